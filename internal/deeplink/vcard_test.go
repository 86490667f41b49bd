package deeplink

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestVCard(t *testing.T) {
	t.Parallel()

	t.Run("ExactOutput", func(t *testing.T) {
		t.Parallel()

		got := VCard(Contact{Company: "Acme", HomeLine: "+14155552671", Backups: []string{"+16502530000", "+12025550123"}})
		want := "BEGIN:VCARD\r\n" +
			"VERSION:3.0\r\n" +
			"N:Acme;;;;\r\n" +
			"FN:Acme\r\n" +
			"ORG:Acme\r\n" +
			"X-ABSHOWAS:COMPANY\r\n" +
			"TEL;TYPE=CELL,PREF:+14155552671\r\n" +
			"TEL;TYPE=CELL:+16502530000\r\n" +
			"TEL;TYPE=CELL:+12025550123\r\n" +
			"END:VCARD\r\n"
		require.Equal(t, want, string(got))
	})

	t.Run("ParsesBackStrictly", func(t *testing.T) {
		t.Parallel()

		tests := []struct {
			name    string
			contact Contact
		}{
			{"HomeAndBackups", Contact{Company: "Acme", HomeLine: "+14155552671", Backups: []string{"+16502530000", "+12025550123"}}},
			{"NoBackups", Contact{Company: "Acme", HomeLine: "+14155552671"}},
			{"ManyBackups", Contact{Company: "Acme", HomeLine: "+14155552671", Backups: []string{"+16502530000", "+12025550123", "+447911123456", "+33612345678", "+4915123456789"}}},
			{"SpecialCharacters", Contact{Company: "Acme, Inc.; \\ \"Support\"\r\nLine two\rthree", HomeLine: "+14155552671", Backups: []string{"+16502530000"}}},
			{"LongUnicodeNameIsFolded", Contact{Company: strings.Repeat("Ünïcödé 🙂 Société, ", 8), HomeLine: "+14155552671", Backups: []string{"+16502530000"}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()

				card, err := parseVCard(VCard(tt.contact))
				require.NoError(t, err)
				name := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(tt.contact.Company)
				require.Equal(t, name, card.FN)
				require.Equal(t, name, card.N)
				require.Equal(t, name, card.ORG)
				require.Equal(t, append([]string{tt.contact.HomeLine}, tt.contact.Backups...), card.Tels)
			})
		}
	})

	t.Run("EmptyCompanyFallsBackToHomeLine", func(t *testing.T) {
		t.Parallel()

		card, err := parseVCard(VCard(Contact{HomeLine: "+14155552671"}))
		require.NoError(t, err)
		require.Equal(t, "+14155552671", card.FN)
	})

	t.Run("AnyInputParsesBack", func(t *testing.T) {
		t.Parallel()

		rapid.Check(t, func(t *rapid.T) {
			c := Contact{
				Company:  rapid.String().Filter(func(s string) bool { return strings.TrimSpace(s) != "" }).Draw(t, "company"),
				HomeLine: rapid.String().Draw(t, "home"),
				Backups:  rapid.SliceOfN(rapid.String(), 0, 4).Draw(t, "backups"),
			}
			card, err := parseVCard(VCard(c))
			require.NoError(t, err)
			unify := strings.NewReplacer("\r\n", "\n", "\r", "\n")
			require.Equal(t, unify.Replace(c.Company), card.FN)
			tels := []string{unify.Replace(c.HomeLine)}
			for _, b := range c.Backups {
				tels = append(tels, unify.Replace(b))
			}
			require.Equal(t, tels, card.Tels)
		})
	})
}

// parsedCard is what parseVCard reads back from a card.
type parsedCard struct {
	FN, N, ORG string
	Tels       []string // in order; the first is the only PREF
}

// contentLine is NAME[;PARAM=V[,V]]*:VALUE (RFC 2425 §5.8.2), with no quoted
// parameter values since VCard writes none.
var contentLine = regexp.MustCompile(`^([A-Za-z0-9-]+)((?:;[A-Za-z0-9-]+=[^;:,"]+(?:,[^;:,"]+)*)*):(.*)$`)

// parseVCard is a deliberately strict vCard 3.0 reader: it refuses anything
// VCard should never produce rather than guessing.
func parseVCard(data []byte) (parsedCard, error) {
	var card parsedCard
	s := string(data)
	if !strings.HasSuffix(s, "\r\n") {
		return card, errors.New("does not end with CRLF")
	}
	if strings.Count(s, "\n") != strings.Count(s, "\r\n") || strings.Count(s, "\r") != strings.Count(s, "\r\n") {
		return card, errors.New("bare CR or LF")
	}

	// Unfold: a physical line starting with a space continues the last one.
	var logical []string
	for i, phys := range strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n") {
		if len(phys) > 75 {
			return card, fmt.Errorf("line %d is %d octets", i, len(phys))
		}
		if !utf8.ValidString(phys) {
			return card, fmt.Errorf("line %d splits a UTF-8 sequence", i)
		}
		if strings.HasPrefix(phys, " ") || strings.HasPrefix(phys, "\t") {
			if len(logical) == 0 {
				return card, errors.New("continuation before any line")
			}
			logical[len(logical)-1] += phys[1:]
			continue
		}
		logical = append(logical, phys)
	}

	seen := make(map[string]int)
	for i, line := range logical {
		m := contentLine.FindStringSubmatch(line)
		if m == nil {
			return card, fmt.Errorf("malformed line %q", line)
		}
		name, params, raw := strings.ToUpper(m[1]), strings.ToUpper(m[2]), m[3]
		seen[name]++
		switch {
		case i == 0 && line != "BEGIN:VCARD":
			return card, errors.New("does not start with BEGIN:VCARD")
		case i == 1 && line != "VERSION:3.0":
			return card, errors.New("VERSION:3.0 is not second")
		case i == len(logical)-1 && line != "END:VCARD":
			return card, errors.New("does not end with END:VCARD")
		}
		switch name {
		case "FN":
			v, err := unescapeComponents(raw, 1)
			if err != nil {
				return card, fmt.Errorf("FN: %w", err)
			}
			card.FN = v[0]
		case "N":
			v, err := unescapeComponents(raw, 5)
			if err != nil {
				return card, fmt.Errorf("N: %w", err)
			}
			card.N = v[0]
		case "ORG":
			v, err := unescapeComponents(raw, 1)
			if err != nil {
				return card, fmt.Errorf("ORG: %w", err)
			}
			card.ORG = v[0]
		case "TEL":
			v, err := unescapeComponents(raw, 1)
			if err != nil {
				return card, fmt.Errorf("TEL: %w", err)
			}
			pref := strings.Contains(params, "PREF")
			if pref != (len(card.Tels) == 0) {
				return card, errors.New("PREF is not on the first TEL alone")
			}
			if !strings.Contains(params, "TYPE=CELL") {
				return card, errors.New("TEL is not TYPE=CELL")
			}
			card.Tels = append(card.Tels, v[0])
		}
	}
	for _, req := range []string{"BEGIN", "VERSION", "FN", "N", "ORG", "END"} {
		if seen[req] != 1 {
			return card, fmt.Errorf("%s appears %d times", req, seen[req])
		}
	}
	if len(card.Tels) == 0 {
		return card, errors.New("no TEL")
	}
	return card, nil
}

// unescapeComponents splits a value on unescaped ";" into exactly n
// components and unescapes each, refusing unknown escapes and bare commas.
func unescapeComponents(raw string, n int) ([]string, error) {
	var parts []string
	var cur bytes.Buffer
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '\\':
			if i+1 == len(raw) {
				return nil, errors.New("trailing backslash")
			}
			i++
			switch raw[i] {
			case '\\', ',', ';':
				cur.WriteByte(raw[i])
			case 'n', 'N':
				cur.WriteByte('\n')
			default:
				return nil, fmt.Errorf("unknown escape \\%c", raw[i])
			}
		case ';':
			parts = append(parts, cur.String())
			cur.Reset()
		case ',':
			return nil, errors.New("unescaped comma")
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, cur.String())
	if len(parts) != n {
		return nil, fmt.Errorf("%d components, want %d", len(parts), n)
	}
	return parts, nil
}
