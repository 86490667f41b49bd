package testkit

import (
	"image"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// DecodeQR reads the QR code img renders. It first reads the module grid
// as drawn (PURE_BARCODE), then, should that fail, locates the code as in
// a photograph. Neither reader alone reads every rendering: located, about
// one of the gateway's short links in 300 came back with a misread module
// that error correction could not undo (zbar and the grid reader read
// them), and the grid reader misjudges the size of some large codes drawn
// at an uneven scale. A code whose data is wrong fails both.
func DecodeQR(t testing.TB, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatalf("qr bitmap: %v", err)
	}
	pure := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, pure)
	if err != nil {
		var located error
		if res, located = qrcode.NewQRCodeReader().Decode(bmp, nil); located != nil {
			t.Fatalf("decode qr: as drawn: %v; located: %v", err, located)
		}
	}
	return res.GetText()
}
