package query

import (
	"strconv"

	"github.com/go-json-experiment/json/jsontext"

	"happychat/schemas"
)

// appendMessage appends m as one JSON object, exactly as schemas.Marshal
// renders a schemas.Message (same members, order and escaping; a test holds
// the two equal). The export renders millions of messages: done by hand,
// this costs a fraction of the reflective encoder, which spent most of its
// time in ID.MarshalJSON. A string with invalid UTF-8, which the event log
// never holds, is written with U+FFFD in place of the bad bytes rather than
// failing the export.
func appendMessage(b []byte, m *schemas.Message) []byte {
	b = append(b, `{"id":`...)
	b = appendID(b, m.ID)
	b = append(b, `,"room_id":`...)
	b = appendID(b, m.RoomID)
	b = append(b, `,"user_id":`...)
	b = appendID(b, m.UserID)
	b = append(b, `,"nickname":`...)
	b = appendString(b, m.Nickname)
	b = append(b, `,"body":`...)
	b = appendString(b, m.Body)
	b = append(b, `,"sent_at":`...)
	b = appendString(b, m.SentAt)
	b = append(b, `,"client_msg_id":`...)
	b = appendString(b, m.ClientMsgID)
	b = append(b, `,"effects":[`...)
	for i, e := range m.Effects {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, e)
	}
	b = append(b, `],"seq":`...)
	b = strconv.AppendInt(b, m.Seq, 10)
	if m.EditedAt != "" {
		b = append(b, `,"edited_at":`...)
		b = appendString(b, m.EditedAt)
	}
	if m.Deleted {
		b = append(b, `,"deleted":true`...)
	}
	if rt := m.ReplyTo; rt != nil {
		b = append(b, `,"reply_to":{"message_id":`...)
		b = appendID(b, rt.MessageID)
		b = append(b, `,"user_id":`...)
		b = appendID(b, rt.UserID)
		b = append(b, `,"nickname":`...)
		b = appendString(b, rt.Nickname)
		if rt.Preview != "" {
			b = append(b, `,"preview":`...)
			b = appendString(b, rt.Preview)
		}
		if rt.Deleted {
			b = append(b, `,"deleted":true`...)
		}
		b = append(b, '}')
	}
	if len(m.Reactions) > 0 {
		b = append(b, `,"reactions":[`...)
		for i, r := range m.Reactions {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"emoji":`...)
			b = appendString(b, r.Emoji)
			b = append(b, `,"user_ids":`...)
			b = appendIDs(b, r.UserIDs)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(m.Mentions) > 0 {
		b = append(b, `,"mentions":`...)
		b = appendIDs(b, m.Mentions)
	}
	return append(b, '}')
}

func appendIDs(b []byte, ids []schemas.ID) []byte {
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendID(b, id)
	}
	return append(b, ']')
}

func appendID(b []byte, id schemas.ID) []byte {
	if id == 0 {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = strconv.AppendInt(b, int64(id), 10)
	return append(b, '"')
}

func appendString(b []byte, s string) []byte {
	b, _ = jsontext.AppendQuote(b, s) // see appendMessage on invalid UTF-8
	return b
}
