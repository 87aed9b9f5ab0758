package clientjson

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"happychat/schemas"
)

// Body reads r's body, at most limit bytes, and decodes it strictly into v
// (Decode). A refusal is a *schemas.Error: payload_too_large past limit,
// unsupported_media_type unless the body is application/json, bad_request
// for a body that does not decode or is JSON null (every body of the API is
// an object). Without required, an empty body is accepted and leaves v as
// it is; a nil v accepts an empty body or an empty object.
func Body(w http.ResponseWriter, r *http.Request, limit int64, v any, required bool) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			return schemas.Errorf(schemas.CodePayloadTooLarge, fmt.Sprintf("the body is larger than %d KiB", limit>>10))
		}
		return schemas.Errorf(schemas.CodeBadRequest, "cannot read the body")
	}
	if len(body) == 0 && !required {
		return nil
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return schemas.Errorf(schemas.CodeUnsupportedMediaType, "the body must be application/json")
	}
	if v == nil {
		var empty struct{}
		v = &empty
	}
	if err := Decode("body", body, v); err != nil {
		return err
	}
	// The decoder takes a JSON null as "leave v as it is", so `null` would
	// pass as an empty object.
	if bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		return schemas.Errorf(schemas.CodeBadRequest, "the body must be a JSON object, not null")
	}
	return nil
}
