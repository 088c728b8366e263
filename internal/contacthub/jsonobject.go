package contacthub

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
)

// The wire types keep the members they do not name in an Unknown map, so a
// customer read, edited and PUT back loses nothing the service knows about
// and this package does not (credential, jobs, sourceInfo, future fields).

// decodeKeepingUnknown decodes data into v (a pointer to a struct without
// custom decoding) with numbers kept exact, and returns the object members v
// does not name.
func decodeKeepingUnknown(data []byte, v any) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, err
	}
	if members == nil {
		return nil, nil
	}
	// encoding/json matches member names case-insensitively, so a member
	// that folds to a field name was consumed by the field.
	known := jsonNames(reflect.TypeOf(v).Elem())
	for name := range members {
		if isKnown(known, name) {
			delete(members, name)
		}
	}
	if len(members) == 0 {
		return nil, nil
	}
	return members, nil
}

// unmarshalKeepingUnknown decodes data as a fresh P and, only when that
// succeeds, stores it in *dst and the members P does not name in *unknown.
// Each wire type calls it with dst pointing at itself converted to a
// method-less twin (so decoding does not recurse) and unknown at its own
// Unknown field; dst is written first, so the Unknown it carries is replaced.
func unmarshalKeepingUnknown[P any](data []byte, dst *P, unknown *map[string]json.RawMessage) error {
	var p P
	members, err := decodeKeepingUnknown(data, &p)
	if err != nil {
		return err
	}
	*dst = p
	*unknown = members
	return nil
}

// encodeWithUnknown encodes v and adds the unknown members it does not
// already write.
func encodeWithUnknown(v any, unknown map[string]json.RawMessage) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil || len(unknown) == 0 {
		return data, err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return nil, err
	}
	known := jsonNames(reflect.TypeOf(v))
	for name, value := range unknown {
		if !isKnown(known, name) {
			members[name] = value
		}
	}
	return json.Marshal(members)
}

// jsonNames lists the JSON member names a struct type decodes.
func jsonNames(t reflect.Type) map[string]bool {
	names := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		names[name] = true
	}
	return names
}

func isKnown(known map[string]bool, name string) bool {
	if known[name] {
		return true
	}
	for k := range known {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}
