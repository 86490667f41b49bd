package messaging

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"

	"github.com/google/uuid"

	"github.com/linegate/linegate/internal/apperr"
	"github.com/linegate/linegate/internal/handle"
	"github.com/linegate/linegate/internal/linq"
	"github.com/linegate/linegate/internal/ratelimit"
)

const (
	maxParts     = 100
	maxKeyLength = 255
)

// validate checks a send and normalises it (handle, intent) so that equal
// requests hash equally.
func (s *Service) validate(req *SendRequest) error {
	switch {
	case req.UserRef == "" && req.Handle == "":
		return apperr.Field("user_ref", "user_ref or handle is required")
	case req.UserRef != "" && req.Handle != "":
		return apperr.Field("handle", "give user_ref or handle, not both")
	case req.Handle != "":
		h, err := handle.Parse(req.Handle, s.cfg.DefaultRegion)
		if err != nil {
			var ie *handle.InvalidError
			if errors.As(err, &ie) {
				return apperr.Field("handle", ie.Reason)
			}
			return apperr.Field("handle", "is not a phone number or email address")
		}
		req.Handle = h.Value
	}
	switch req.Intent {
	case "":
		req.Intent = ratelimit.IntentProactive
	case ratelimit.IntentProactive, ratelimit.IntentReply:
	default:
		return apperr.Field("intent", `must be "reply" or "proactive"`)
	}
	switch req.PreferredService {
	case "", linq.ServiceIMessage, linq.ServiceSMS, linq.ServiceRCS:
	default:
		return apperr.Field("preferred_service", `must be "iMessage", "SMS" or "RCS"`)
	}
	if req.ReplyTo != nil {
		if _, err := uuid.Parse(req.ReplyTo.MessageID); err != nil {
			return apperr.Field("reply_to.message_id", "is required: the id of a message in the chat")
		}
		if err := validPartIndex("reply_to.part_index", req.ReplyTo.PartIndex); err != nil {
			return err
		}
	}
	if err := validEffect(req.Effect); err != nil {
		return err
	}
	if err := validKey(req.IdempotencyKey); err != nil {
		return err
	}
	return validParts(req.Parts)
}

// validEffect checks an effect's type, the one part of it Linq fixes
// (its names are open: the wire doc and the SDK list common ones only).
func validEffect(e *linq.Effect) error {
	if e != nil && e.Type != "" && e.Type != "screen" && e.Type != "bubble" {
		return apperr.Field("effect.type", `must be "screen" or "bubble"`)
	}
	return nil
}

// validPartIndex checks a 0-based part index; whether the message has
// that many parts is Linq's to say (the text is not kept).
func validPartIndex(field string, i *int) error {
	if i != nil && *i < 0 {
		return apperr.Field(field, "must be 0 or more")
	}
	return nil
}

// maxLinkLength is Linq's bound on a link part's URL.
const maxLinkLength = 2048

func validKey(k string) error {
	if len(k) > maxKeyLength {
		return apperr.Field("idempotency_key", fmt.Sprintf("must be at most %d characters", maxKeyLength))
	}
	if strings.IndexFunc(k, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return apperr.Field("idempotency_key", "must be printable")
	}
	return nil
}

// validParts applies the wire doc's part rules for the types Linegate
// passes through: text, media and link.
func validParts(parts []linq.Part) error {
	if len(parts) == 0 {
		return apperr.Field("parts", "at least one part is required")
	}
	if len(parts) > maxParts {
		return apperr.Field("parts", fmt.Sprintf("at most %d parts", maxParts))
	}
	for i := range parts {
		p := &parts[i]
		// Built only for an error: validation runs on every send.
		field := func(sub string) string { return fmt.Sprintf("parts[%d]%s", i, sub) }
		switch p.Type {
		case "":
			return apperr.Field(field(".type"), `is required: "text", "media" or "link"`)
		case linq.PartText:
			if p.Value == "" {
				return apperr.Field(field(".value"), "is required for a text part")
			}
			if i > 0 && parts[i-1].Type == linq.PartText {
				return apperr.Field(field(""), "two text parts may not follow each other")
			}
		case linq.PartMedia:
			if (p.URL == "") == (p.AttachmentID == "") {
				return apperr.Field(field(""), "a media part needs exactly one of url and attachment_id")
			}
			if p.URL != "" && !strings.HasPrefix(p.URL, "https://") {
				return apperr.Field(field(".url"), "must be a public https URL")
			}
		case linq.PartLink:
			if p.Value == "" {
				return apperr.Field(field(".value"), "is required for a link part")
			}
			if u, err := url.Parse(p.Value); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
				len(p.Value) > maxLinkLength {
				return apperr.Field(field(".value"), fmt.Sprintf("must be an http(s) URL of at most %d characters", maxLinkLength))
			}
			if len(parts) > 1 {
				return apperr.Field(field(""), "a link part must be the only part")
			}
		default:
			return apperr.Field(field(".type"), `must be "text", "media" or "link"`)
		}
	}
	return nil
}
