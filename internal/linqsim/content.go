package linqsim

import (
	"encoding/json"
	"mime"
	"net/url"
	"path"
	"regexp"
	"strings"
)

// Request shapes. Unknown fields are ignored, as Linq's API does; wrong
// types and missing required fields are 400s.

type inPart struct {
	Type            string          `json:"type"`
	Value           string          `json:"value"`
	TextDecorations json.RawMessage `json:"text_decorations"`
	Mention         string          `json:"mention"`
	MentionRange    []int           `json:"mention_range"`
	URL             string          `json:"url"`
	AttachmentID    string          `json:"attachment_id"`
	App             json.RawMessage `json:"app"`
	Layout          json.RawMessage `json:"layout"`
	FallbackText    string          `json:"fallback_text"`
}

type inReplyTo struct {
	MessageID string `json:"message_id"`
	PartIndex *int   `json:"part_index"`
}

type inContent struct {
	Parts            []inPart        `json:"parts"`
	IdempotencyKey   string          `json:"idempotency_key"`
	PreferredService string          `json:"preferred_service"`
	Effect           *wEffect        `json:"effect"`
	ReplyTo          *inReplyTo      `json:"reply_to"`
	Experience       json.RawMessage `json:"experience"`
}

// content is a validated message.
type content struct {
	parts            []part
	effect           *wEffect
	replyTo          *wReplyTo
	idemKey          string
	preferredService string
	hasLink          bool // a link part or a URL inside a text part
	hasMention       bool
}

var (
	screenEffects = map[string]bool{"confetti": true, "fireworks": true, "lasers": true, "sparkles": true,
		"celebration": true, "hearts": true, "love": true, "balloons": true, "happy_birthday": true,
		"echo": true, "spotlight": true}
	bubbleEffects = map[string]bool{"slam": true, "loud": true, "gentle": true, "invisible": true}

	// urlRe finds URLs in text for the first-message rule. It is broad on
	// purpose (the harder reading): scheme URLs, www. hosts, and bare
	// domains with a common TLD ("example.com/x") all count.
	urlRe = regexp.MustCompile(`(?i)(?:\bhttps?://\S|\bwww\.[a-z0-9-]+\.|\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|co|app|ai|dev|me|us|uk|ly|gl|link|info|biz|xyz|page|site|gg|tv)\b)`)
)

const (
	maxParts     = 100
	maxURLParts  = 40
	maxLinkChars = 2048
)

func parseContent(in *inContent) (*content, *apiError) {
	if in == nil {
		return nil, errInvalid("message is required")
	}
	if len(in.Experience) > 0 && string(in.Experience) != "null" {
		if len(in.Parts) > 0 {
			return nil, errInvalid("message carries parts or experience, never both")
		}
		return nil, errInvalid("message.experience is not supported by the simulator")
	}
	if len(in.Parts) == 0 {
		return nil, errInvalid("message.parts is required")
	}
	if len(in.Parts) > maxParts {
		return nil, errInvalid("message.parts holds at most %d parts", maxParts)
	}
	c := &content{idemKey: in.IdempotencyKey, parts: make([]part, 0, len(in.Parts))}
	urlParts := 0
	for i, p := range in.Parts {
		switch p.Type {
		case "":
			return nil, errInvalid("message.parts[%d].type is required", i)
		case "text":
			if p.Value == "" {
				return nil, errInvalid("message.parts[%d].value is required", i)
			}
			if i > 0 && in.Parts[i-1].Type == "text" {
				return nil, errInvalid("message.parts[%d]: two text parts may not follow each other", i)
			}
			if len(p.MentionRange) > 0 && p.Mention == "" {
				return nil, errInvalid("message.parts[%d].mention_range needs mention", i)
			}
			if urlRe.MatchString(p.Value) {
				c.hasLink = true
			}
			if p.Mention != "" {
				c.hasMention = true
			}
			c.parts = append(c.parts, part{typ: "text", value: p.Value, decorations: nullIfEmpty(p.TextDecorations),
				mention: p.Mention, mentionRange: p.MentionRange})
		case "media":
			if (p.URL == "") == (p.AttachmentID == "") {
				return nil, errInvalid("message.parts[%d] needs exactly one of url and attachment_id", i)
			}
			mp := part{typ: "media", mediaID: p.AttachmentID, filename: "attachment"}
			if p.URL != "" {
				u, err := url.Parse(p.URL)
				if err != nil || u.Scheme != "https" || u.Host == "" {
					return nil, errInvalid("message.parts[%d].url must be a public https URL", i)
				}
				if urlParts++; urlParts > maxURLParts {
					return nil, errInvalid("at most %d media parts may use url", maxURLParts)
				}
				if b := path.Base(u.Path); b != "." && b != "/" {
					mp.filename = b
				}
				mp.mediaID = newID()
			}
			mp.mimeType = mime.TypeByExtension(path.Ext(mp.filename))
			if mp.mimeType == "" {
				mp.mimeType = "application/octet-stream"
			}
			mp.url = "https://cdn.linqapp.com/sim/" + mp.mediaID + "/" + url.PathEscape(mp.filename)
			c.parts = append(c.parts, mp)
		case "link":
			u, err := url.Parse(p.Value)
			if p.Value == "" || len(p.Value) > maxLinkChars || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return nil, errInvalid("message.parts[%d].value must be a URL of at most %d characters", i, maxLinkChars)
			}
			c.hasLink = true
			c.parts = append(c.parts, part{typ: "link", value: p.Value})
		case "imessage_app":
			var app struct {
				BundleID string `json:"bundle_id"`
				Name     string `json:"name"`
				TeamID   string `json:"team_id"`
			}
			if len(p.App) == 0 || json.Unmarshal(p.App, &app) != nil || app.BundleID == "" || app.Name == "" || app.TeamID == "" {
				return nil, errInvalid("message.parts[%d].app needs bundle_id, name and team_id", i)
			}
			if len(p.Layout) == 0 {
				return nil, errInvalid("message.parts[%d].layout is required", i)
			}
			c.parts = append(c.parts, part{typ: "imessage_app", app: p.App, layout: p.Layout, url: p.URL, fallbackText: p.FallbackText})
		case "app_clip":
			if p.Value == "" {
				return nil, errInvalid("message.parts[%d].value is required", i)
			}
			c.parts = append(c.parts, part{typ: "app_clip", value: p.Value})
		default:
			return nil, errInvalid("message.parts[%d].type %q is not a part type", i, p.Type)
		}
		if t := p.Type; (t == "link" || t == "imessage_app" || t == "app_clip") && len(in.Parts) > 1 {
			return nil, errInvalid("a %s part must be the only part of its message", t)
		}
	}
	switch in.PreferredService {
	case "", serviceIMessage, serviceSMS, serviceRCS:
		c.preferredService = in.PreferredService
	default:
		return nil, errInvalid("message.preferred_service must be iMessage, SMS or RCS")
	}
	if e := in.Effect; e != nil {
		switch {
		case e.Type != "" && e.Type != "screen" && e.Type != "bubble":
			return nil, errInvalid("message.effect.type must be screen or bubble")
		case e.Name == "":
			return nil, errInvalid("message.effect.name is required")
		case !screenEffects[e.Name] && !bubbleEffects[e.Name],
			e.Type == "screen" && !screenEffects[e.Name],
			e.Type == "bubble" && !bubbleEffects[e.Name]:
			return nil, errInvalid("message.effect.name %q is not a known %s effect", e.Name, cmpOr(e.Type, "screen or bubble"))
		}
		eff := *e
		c.effect = &eff
	}
	if r := in.ReplyTo; r != nil {
		if r.MessageID == "" {
			return nil, errInvalid("message.reply_to.message_id is required")
		}
		idx := 0
		if r.PartIndex != nil {
			idx = *r.PartIndex
		}
		if idx < 0 {
			return nil, errInvalid("message.reply_to.part_index must not be negative")
		}
		c.replyTo = &wReplyTo{MessageID: r.MessageID, PartIndex: idx}
	}
	return c, nil
}

func nullIfEmpty(r json.RawMessage) json.RawMessage {
	if len(r) == 0 || string(r) == "null" {
		return nil
	}
	return r
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// firstMessageRule applies Linq's rule for the first message of a new chat:
// no link (part or URL in text), no reply_to, no effect → 400/1005. POST
// /v3/messages allows a link in the first message, so linkAllowed skips that.
func firstMessageRule(c *content, linkAllowed bool) *apiError {
	var why string
	switch {
	case c.hasLink && !linkAllowed:
		why = "a link"
	case c.replyTo != nil:
		why = "reply_to"
	case c.effect != nil:
		why = "an effect"
	default:
		return nil
	}
	return &apiError{status: 400, code: codeFirstMessageRule,
		message: "the first message of a new chat may not contain " + why}
}

// parseRecipients validates, normalizes, dedupes and sorts a to list.
func parseRecipients(to []string, from string) ([]string, *apiError) {
	if len(to) == 0 {
		return nil, errInvalid("to is required")
	}
	out := make([]string, 0, len(to))
	for i, h := range to {
		n, ok := normalizeHandle(h)
		if !ok {
			return nil, errInvalid("to[%d] %q is not an E.164 number or email address", i, h)
		}
		if n == from {
			return nil, errInvalid("to[%d] is the sending line itself", i)
		}
		out = append(out, n)
	}
	return sortedUnique(out), nil
}

func sortedUnique(xs []string) []string {
	if len(xs) < 2 {
		return xs
	}
	// Insertion sort: recipient lists are tiny.
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && xs[j] < xs[j-1]; j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
	out := xs[:1]
	for _, x := range xs[1:] {
		if x != out[len(out)-1] {
			out = append(out, x)
		}
	}
	return out
}

// splitList accepts both query-array forms: repeated parameters and
// comma-joined values (wire doc §1.1).
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, x := range strings.Split(v, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		}
	}
	return out
}
