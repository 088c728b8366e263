package configapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/hubsend/hubsend/internal/source"
)

// maxJSONDepth bounds how deeply a body may nest; no request of the API
// nests more than four levels.
const maxJSONDepth = 32

// checkShape reads a JSON document against the Go type it will be decoded
// into, before encoding/json sees it, and reports the first place where
// they disagree, by its full path (properties.fieldMapping[0].transform).
// It refuses what encoding/json silently accepts: member names that match a
// field only when case is ignored, and members that appear twice (where
// encoding/json keeps the last value).
func checkShape(body []byte, t reflect.Type) *source.Problem {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	w := shapeWalker{dec: dec}
	if p := w.value(t, "", 0); p != nil {
		return p
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &source.Problem{Message: "unexpected data after the JSON object"}
	}
	return nil
}

type shapeWalker struct {
	dec *json.Decoder
}

// token reads the next token, turning a syntax error into a problem.
func (w *shapeWalker) token(path string) (json.Token, *source.Problem) {
	tok, err := w.dec.Token()
	if err != nil {
		p := jsonProblem(err)
		if errors.Is(err, io.EOF) {
			p = source.Problem{Message: "the JSON ends too early"}
		}
		if p.Path == "" {
			p.Path = path
		}
		return nil, &p
	}
	return tok, nil
}

func (w *shapeWalker) value(t reflect.Type, path string, depth int) *source.Problem {
	if depth > maxJSONDepth {
		return &source.Problem{Path: path, Message: fmt.Sprintf("nests deeper than %d levels", maxJSONDepth)}
	}
	tok, p := w.token(path)
	if p != nil {
		return p
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if tok == nil { // null: the member is absent
		if depth == 0 {
			return mismatch(path, t, "null")
		}
		return nil
	}
	if t.Kind() == reflect.Interface {
		return w.skip(tok, path, depth)
	}
	switch v := tok.(type) {
	case json.Delim:
		switch {
		case v == '{' && t.Kind() == reflect.Struct:
			return w.object(t, path, depth)
		case v == '{' && t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
			return w.mapObject(t, path, depth)
		case v == '[' && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
			return w.array(t, path, depth)
		}
		return mismatch(path, t, map[json.Delim]string{'{': "an object", '[': "an array"}[v])
	case string:
		if t.Kind() != reflect.String {
			return mismatch(path, t, "a string")
		}
	case bool:
		if t.Kind() != reflect.Bool {
			return mismatch(path, t, "true or false")
		}
	case json.Number:
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			if _, err := strconv.ParseInt(v.String(), 10, t.Bits()); err != nil {
				return &source.Problem{Path: path, Message: "must be an integer that fits in " + strconv.Itoa(t.Bits()) + " bits, not " + v.String()}
			}
		case reflect.Float32, reflect.Float64:
			if _, err := strconv.ParseFloat(v.String(), t.Bits()); err != nil {
				return &source.Problem{Path: path, Message: "is out of range"}
			}
		default:
			return mismatch(path, t, "a number")
		}
	}
	return nil
}

func mismatch(path string, t reflect.Type, got string) *source.Problem {
	return &source.Problem{Path: path, Message: fmt.Sprintf("must be %s, not %s", describeKind(t), got)}
}

func describeKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.Kind().String()
}

func (w *shapeWalker) object(t reflect.Type, path string, depth int) *source.Problem {
	fields := jsonFields(t)
	seen := map[string]bool{}
	for w.dec.More() {
		tok, p := w.token(path)
		if p != nil {
			return p
		}
		name, _ := tok.(string)
		at := join(path, name)
		if seen[name] {
			return &source.Problem{Path: at, Message: "appears more than once; send each member once"}
		}
		seen[name] = true
		ft, ok := fields[name]
		if !ok {
			for known := range fields {
				if strings.EqualFold(known, name) {
					return &source.Problem{Path: at, Message: fmt.Sprintf("unknown field; member names are case-sensitive: did you mean %q?", known)}
				}
			}
			return &source.Problem{Path: at, Message: "unknown field"}
		}
		if p := w.value(ft, at, depth+1); p != nil {
			return p
		}
	}
	_, p := w.token(path) // '}'
	return p
}

func (w *shapeWalker) mapObject(t reflect.Type, path string, depth int) *source.Problem {
	seen := map[string]bool{}
	for w.dec.More() {
		tok, p := w.token(path)
		if p != nil {
			return p
		}
		name, _ := tok.(string)
		at := join(path, name)
		if seen[name] {
			return &source.Problem{Path: at, Message: "appears more than once; send each member once"}
		}
		seen[name] = true
		if p := w.value(t.Elem(), at, depth+1); p != nil {
			return p
		}
	}
	_, p := w.token(path)
	return p
}

func (w *shapeWalker) array(t reflect.Type, path string, depth int) *source.Problem {
	for i := 0; w.dec.More(); i++ {
		if t.Kind() == reflect.Array && i >= t.Len() {
			return &source.Problem{Path: path, Message: fmt.Sprintf("holds at most %d items", t.Len())}
		}
		if p := w.value(t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1); p != nil {
			return p
		}
	}
	_, p := w.token(path) // ']'
	return p
}

// skip reads past a value of any shape, still refusing repeated members.
func (w *shapeWalker) skip(tok json.Token, path string, depth int) *source.Problem {
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	anyType := reflect.TypeFor[any]()
	if d == '[' {
		return w.array(reflect.SliceOf(anyType), path, depth)
	}
	return w.mapObject(reflect.MapOf(reflect.TypeFor[string](), anyType), path, depth)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// jsonFields maps the JSON member names of a struct type, as encoding/json
// names them (tags, embedded structs), to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for n, typ := range jsonFields(ft) {
					if _, taken := fields[n]; !taken {
						fields[n] = typ
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}
