package contactsend

import (
	"fmt"

	"github.com/hubsend/hubsend/internal/mapping"
)

// WireAttributes turns mapped values into the attributes of an add or an
// update. A clear becomes an empty text, which the service stores as NULL;
// the SOAP schema has no null for other types, so clearing a number, date
// or flag column is not expressible and is left out.
func WireAttributes(attrs mapping.Attributes) ([]Attribute, error) {
	out := make([]Attribute, 0, len(attrs))
	for _, a := range attrs {
		t := FieldType(a.Type)
		if a.Clear {
			if a.Type.IsText() {
				out = append(out, Attribute{Key: a.Field, Value: TextValue(t, "")})
			}
			continue
		}
		v, err := ParseValue(t, a.Text)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", a.Field, err)
		}
		out = append(out, Attribute{Key: a.Field, Value: v})
	}
	return out, nil
}

// Differences lists the mapped fields whose value the subscriber does not
// hold yet, by the same rules as WireAttributes: a clear of a column that
// cannot be cleared is no difference.
func (s Subscriber) Differences(attrs mapping.Attributes) []string {
	var out []string
	for _, a := range attrs {
		cur, ok := s.Get(a.Field)
		has := ok && !cur.IsNull() && cur.String() != ""
		switch {
		case a.Clear:
			if has && a.Type.IsText() {
				out = append(out, a.Field)
			}
		case !has:
			if a.Text != "" {
				out = append(out, a.Field)
			}
		default:
			typed, err := cur.As(FieldType(a.Type))
			if err != nil || typed.String() != a.Text {
				out = append(out, a.Field)
			}
		}
	}
	return out
}
