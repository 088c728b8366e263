package contacthub

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
)

// Lookup returns the value at a dotted field path such as "base.address.city"
// or "extended.loyaltyPoints" (the paths Fields reports), as encoding/json
// would decode the customer's JSON with numbers kept exact: string,
// json.Number, bool, nil, map[string]any or []any. found is false when the
// path is absent; a present null is (nil, true).
//
// It walks the decoded customer itself, so a lookup costs no encoding; only
// a member this package does not name (kept raw in an Unknown map) is
// decoded, when a path enters it.
func (c Customer) Lookup(path string) (value any, found bool) {
	return lookupTyped(reflect.ValueOf(c), strings.Split(path, "."))
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// lookupTyped walks the wire types by their JSON member names, treating
// members their encoding leaves out (omitempty, omitzero) as absent.
func lookupTyped(v reflect.Value, parts []string) (any, bool) {
	for i, part := range parts {
		v = derefPointer(v)
		if !v.IsValid() || v.Kind() != reflect.Struct || hasMarshaler(v) {
			return nil, false
		}
		field, ok := memberOf(v, part)
		if !ok {
			raw, ok := unknownMember(v, part)
			if !ok {
				return nil, false
			}
			doc, ok := decodeGeneric(raw)
			if !ok {
				return nil, false
			}
			return lookupGeneric(doc, parts[i+1:])
		}
		v = field
		switch {
		case v.Type() == rawMessageType:
			doc, ok := decodeGeneric(v.Bytes())
			if !ok {
				return nil, false
			}
			return lookupGeneric(doc, parts[i+1:])
		case v.Kind() == reflect.Map && v.Type().Key().Kind() == reflect.String && v.Type().Elem().Kind() == reflect.Interface:
			return lookupGeneric(v.Interface().(map[string]any), parts[i+1:])
		}
	}
	return asJSON(v)
}

// memberOf returns the field of struct v encoded as the member name, unless
// the encoding leaves it out.
func memberOf(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		member, opts, _ := strings.Cut(tag, ",")
		if member == "" {
			member = f.Name
		}
		if member != name {
			continue
		}
		fv := v.Field(i)
		if omitted(fv, opts) {
			return reflect.Value{}, false
		}
		return fv, true
	}
	return reflect.Value{}, false
}

// omitted reports whether encoding/json leaves the field out.
func omitted(v reflect.Value, opts string) bool {
	for opt := range strings.SplitSeq(opts, ",") {
		switch opt {
		case "omitempty":
			switch v.Kind() {
			case reflect.Pointer, reflect.Interface:
				if v.IsNil() {
					return true
				}
			case reflect.String, reflect.Slice, reflect.Map, reflect.Array:
				if v.Len() == 0 {
					return true
				}
			case reflect.Bool:
				if !v.Bool() {
					return true
				}
			}
		case "omitzero":
			if z, ok := v.Interface().(interface{ IsZero() bool }); ok {
				if z.IsZero() {
					return true
				}
			} else if v.IsZero() {
				return true
			}
		}
	}
	return false
}

// unknownMember returns a member kept raw in the struct's Unknown map; the
// encoding drops one whose name folds to a named member's.
func unknownMember(v reflect.Value, name string) (json.RawMessage, bool) {
	u := v.FieldByName("Unknown")
	if !u.IsValid() {
		return nil, false
	}
	unknown, ok := u.Interface().(map[string]json.RawMessage)
	if !ok {
		return nil, false
	}
	raw, ok := unknown[name]
	if !ok || isKnown(jsonNames(v.Type()), name) {
		return nil, false
	}
	return raw, true
}

func derefPointer(v reflect.Value) reflect.Value {
	for v.IsValid() && v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// hasMarshaler reports whether a struct encodes itself other than member
// by member (Time does), so a path cannot enter it. The wire types encode
// member by member, adding their Unknown members.
func hasMarshaler(v reflect.Value) bool {
	t := v.Type()
	return !wireTypes[t] && t.Implements(marshalerType)
}

var (
	marshalerType = reflect.TypeFor[json.Marshaler]()
	wireTypes     = map[reflect.Type]bool{
		reflect.TypeFor[Customer](): true, reflect.TypeFor[Base](): true, reflect.TypeFor[Contacts](): true,
		reflect.TypeFor[Address](): true, reflect.TypeFor[Subscription](): true,
	}
)

// lookupGeneric walks decoded JSON.
func lookupGeneric(doc any, parts []string) (any, bool) {
	for _, part := range parts {
		obj, ok := doc.(map[string]any)
		if !ok {
			return nil, false
		}
		if doc, ok = obj[part]; !ok {
			return nil, false
		}
	}
	switch doc.(type) {
	case nil, string, bool, json.Number:
		return doc, true
	}
	return asJSON(reflect.ValueOf(doc))
}

// asJSON returns a value as its JSON decodes: the one place a lookup
// encodes, for a whole object, list or typed leaf such as a Time.
func asJSON(v reflect.Value) (any, bool) {
	if !v.IsValid() {
		return nil, true
	}
	switch v.Kind() {
	case reflect.String:
		return v.String(), true
	case reflect.Bool:
		return v.Bool(), true
	}
	data, err := json.Marshal(v.Interface())
	if err != nil {
		return nil, false
	}
	return decodeGeneric(data)
}

func decodeGeneric(data []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, false
	}
	return doc, true
}
