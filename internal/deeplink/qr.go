package deeplink

import (
	"fmt"

	"github.com/skip2/go-qrcode"
)

// MaxQRSize bounds QRPNG's size: a PNG this wide is already sharp on any
// screen or print, and the bound keeps a size taken from a request from
// costing unbounded memory.
const MaxQRSize = 2048

// QRPNG renders content as a size×size PNG QR code with medium (~15 %) error
// recovery, enough for a code photographed off a screen. It fails rather than
// silently return a different size: when size is not positive, above
// MaxQRSize, or too small to give every module (quiet zone included) a pixel.
func QRPNG(content string, size int) ([]byte, error) {
	if size <= 0 || size > MaxQRSize {
		return nil, fmt.Errorf("qr size %d outside 1..%d", size, MaxQRSize)
	}
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("encode qr code: %w", err)
	}
	if modules := len(q.Bitmap()); size < modules {
		return nil, fmt.Errorf("qr size %d below the %d modules the content needs", size, modules)
	}
	png, err := q.PNG(size)
	if err != nil {
		return nil, fmt.Errorf("render qr png: %w", err)
	}
	return png, nil
}
