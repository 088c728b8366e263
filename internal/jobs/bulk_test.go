package jobs

import (
	"strings"
	"testing"
)

func TestDecodeBulk(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{name: "valid", body: `{"kind":"bulk","sourceId":"s1","runId":"r1","firstPage":10,"pages":10,"size":50,"enqueuedAt":"2026-01-01T00:00:00Z"}`},
		{name: "a sync job", body: `{"sourceId":"s1","customerId":"c1","reason":"webhook"}`, wantErr: `kind must be "bulk"`},
		{name: "total of the node", body: `{"kind":"bulk","sourceId":"s1","runId":"r1","firstPage":10,"pages":10,"size":50,"total":1200,"enqueuedAt":"2026-01-01T00:00:00Z"}`},
		// A job made by a later release, received by this one during a deploy.
		{name: "a field of a later release", body: `{"kind":"bulk","sourceId":"s1","runId":"r1","firstPage":10,"pages":10,"size":50,"anchor":"x"}`},
		{name: "pages out of range", body: `{"kind":"bulk","sourceId":"s1","runId":"r1","firstPage":0,"pages":0,"size":50}`, wantErr: "pages must be 1..1000"},
		{name: "page size over Contacthub's", body: `{"kind":"bulk","sourceId":"s1","runId":"r1","firstPage":0,"pages":1,"size":51}`, wantErr: "size must be 1..50"},
		{name: "no source, negative page", body: `{"kind":"bulk","runId":"r1","firstPage":-1,"pages":1,"size":50}`, wantErr: "sourceId is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeBulk(tt.body)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !IsBulk(tt.body) {
					t.Error("IsBulk = false")
				}
				if _, err := Decode(tt.body); err == nil {
					t.Error("a bulk job decodes as a sync job")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want it to say %q", err, tt.wantErr)
			}
		})
	}
}
