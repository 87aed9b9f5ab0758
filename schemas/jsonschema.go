package schemas

import (
	"embed"
	"io/fs"
	"strconv"
)

//go:embed jsonschema/*.json
var jsonSchemas embed.FS

// JSONSchemas returns the JSON Schemas (draft 2020-12) of the events, one file
// per type and version at the root, named "<type>.v<version>.json" (for
// instance "message.sent.v1.json"). Each describes the whole envelope as
// Encode writes it: the canonical form. Decode is as strict about members,
// types and ids, and additionally tolerates spellings that carry the same
// value (insignificant whitespace, RFC 3339 offsets, omitted empty strings).
// Files of older versions stay, so that old records remain documented.
func JSONSchemas() fs.FS {
	sub, err := fs.Sub(jsonSchemas, "jsonschema")
	if err != nil {
		// fs.Sub fails only on an invalid path literal, fixed at build time.
		panic(err)
	}
	return sub
}

// JSONSchemaName is the file name of the schema of version of typ in
// JSONSchemas.
func JSONSchemaName(typ string, version int) string {
	return typ + ".v" + strconv.Itoa(version) + ".json"
}
