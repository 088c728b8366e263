package contacthub

import (
	"bytes"
	"fmt"
	"time"
)

// TimeLayout is how Contacthub writes timestamps: milliseconds and an offset
// without a colon, e.g. 2017-03-09T11:31:31.842+0000.
const TimeLayout = "2006-01-02T15:04:05.000-0700"

// acceptedLayouts are tried in order when reading a timestamp; the service
// writes the first, people and other tools write the rest.
var acceptedLayouts = []string{
	"2006-01-02T15:04:05.999999999-0700",
	"2006-01-02T15:04:05-0700",
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
}

// Time is a timestamp in Contacthub's wire format. The zero Time encodes as
// null.
type Time struct {
	time.Time
}

// NewTime truncates t to the milliseconds the service keeps.
func NewTime(t time.Time) Time {
	return Time{t.Truncate(time.Millisecond)}
}

// ParseTime reads a Contacthub timestamp, also accepting RFC 3339.
func ParseTime(s string) (Time, error) {
	for _, layout := range acceptedLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return Time{t}, nil
		}
	}
	return Time{}, fmt.Errorf("contacthub: timestamp %q is neither %s nor RFC 3339", s, TimeLayout)
}

// String formats t like the service does.
func (t Time) String() string {
	return t.Time.Format(TimeLayout)
}

// MarshalJSON writes the service's format, or null for the zero Time.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.Time.Format(TimeLayout) + `"`), nil
}

// UnmarshalJSON accepts the service's format, RFC 3339 and null.
func (t *Time) UnmarshalJSON(data []byte) error {
	if bytes.Equal(data, []byte("null")) {
		*t = Time{}
		return nil
	}
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return fmt.Errorf("contacthub: timestamp must be a JSON string, got %s", data)
	}
	parsed, err := ParseTime(string(data[1 : len(data)-1]))
	if err != nil {
		return err
	}
	*t = parsed
	return nil
}
