package deeplink

import "strings"

// Platform is the kind of device a short-link visitor is on, which decides
// whether they get the iOS link, the Android link or the desktop page.
type Platform string

// The platforms the short link tells apart.
const (
	PlatformIOS     Platform = "ios"
	PlatformAndroid Platform = "android"
	PlatformDesktop Platform = "desktop"
)

// UserAgentPlatform classifies a User-Agent header. iPhone, iPad and iPod are
// iOS; Android is Android; everything else, including an empty header, is
// desktop. iPadOS Safari sends a Mac desktop UA by default and cannot be told
// apart from a Mac, so it gets the desktop page, whose QR code and links still
// work there.
func UserAgentPlatform(ua string) Platform {
	switch {
	case strings.Contains(ua, "iPhone"), strings.Contains(ua, "iPad"), strings.Contains(ua, "iPod"):
		return PlatformIOS
	case strings.Contains(ua, "Android"):
		return PlatformAndroid
	default:
		return PlatformDesktop
	}
}
