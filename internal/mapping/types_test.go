package mapping

import "testing"

func TestCompatible(t *testing.T) {
	tests := []struct {
		hub  HubType
		send SendType
		want bool
	}{
		{HubString, SendString, true},
		{HubString, SendInteger, false},
		{HubEmail, SendString, true},
		{HubEmail, SendFlag, false},
		{HubInteger, SendLong, true},
		{HubNumber, SendInteger, false},
		{HubNumber, SendDouble, true},
		{HubBoolean, SendFlag, true},
		{HubBoolean, SendInteger, false},
		{HubDate, SendDate, true},
		{HubDate, SendTime, false},
		{HubDateTime, SendTimestamp, true},
		{"unknown", SendString, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.hub)+"→"+string(tt.send), func(t *testing.T) {
			if got := Compatible(tt.hub, tt.send); got != tt.want {
				t.Errorf("Compatible(%s, %s) = %v, want %v", tt.hub, tt.send, got, tt.want)
			}
		})
	}
}

func TestOptionsSkipsRegistrationFields(t *testing.T) {
	fields := []SendField{
		{Name: "EMAIL", Type: SendString, EmailField: true},
		{Name: "__cls1", Type: SendInteger},
		{Name: "AGE", Type: SendInteger},
		{Name: "PRIVACY", Type: SendFlag},
	}
	got := Options(HubInteger, fields)
	if len(got) != 2 || got[0].Name != "EMAIL" || got[1].Name != "AGE" {
		t.Fatalf("Options(integer) = %+v, want EMAIL and AGE without __cls1", got)
	}
}
