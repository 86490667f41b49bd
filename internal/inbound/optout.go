package inbound

import (
	"regexp"
	"strings"
)

var (
	// stopKeywords opt a sender out when they are the whole trimmed message,
	// in exactly this case (Linq's rule for chat health OPTED_OUT).
	stopKeywords = map[string]bool{"STOP": true, "UNSUBSCRIBE": true, "OPTOUT": true, "CANCEL": true, "END": true, "QUIT": true}
	// optOutPhrase is "opt out" in any case, spacing or hyphenation.
	optOutPhrase = regexp.MustCompile(`(?i)^opt[\s\-]*out$`)
)

// IsOptOut reports whether an inbound text opts its sender out, by Linq's
// own rule: the whole trimmed message is STOP, UNSUBSCRIBE, OPTOUT, CANCEL,
// END or QUIT (exact case), or "opt out" in any spacing, hyphen or case.
// Any other message from an opted-out sender lifts the opt-out, as Linq does.
func IsOptOut(text string) bool {
	t := strings.TrimSpace(text)
	return stopKeywords[t] || optOutPhrase.MatchString(t)
}
