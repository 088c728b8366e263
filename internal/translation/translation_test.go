package translation

import (
	"testing"

	"golang.org/x/text/language"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct{ header, want string }{
		{"", "en"},
		{"it", "it"},
		{"it-IT,it;q=0.9,en;q=0.8", "it"},
		{"en-GB,it;q=0.5", "en"},
		{"de-DE,it;q=0.3", "it"},
		{"fr", "en"},
		{";;;garbage=", "en"},
	} {
		t.Run(tc.header, func(t *testing.T) {
			if got, _ := Match(tc.header).Base(); got.String() != tc.want {
				t.Errorf("Match(%q) = %s, want %s", tc.header, got, tc.want)
			}
		})
	}
}

func TestInto(t *testing.T) {
	for _, tc := range []struct{ english, italian string }{
		{"is required", "è obbligatorio"},
		// A more specific message wins over a shorter one it also matches.
		{"must be an absolute https URL", "deve essere un URL https assoluto"},
		{"must be \"fail\" or \"skip\"", "deve essere \"fail\" o \"skip\""},
		{"Contactsend field NOPE does not exist in userdb 6", "il campo Contactsend NOPE non esiste nello userdb 6"},
		// A quoted message is translated in turn; a service's own text is not.
		{"Contacthub failed while looking up node n1: 503 Service Unavailable", "Contacthub ha dato errore durante: ricerca del nodo n1: 503 Service Unavailable"},
		// Messages joined by "; " are translated one by one.
		{"node n1 is already served by source s1; one source : one node : one userdb", "nodo n1 è già servito dalla source s1; una source : un nodo : uno userdb"},
		{"changing node and apiKey requires: the source must be disabled; the current node must have no customers",
			"modificare node and apiKey richiede: la source deve essere disabilitata; il nodo attuale deve essere vuoto"},
		{"something the catalog does not know", "something the catalog does not know"},
	} {
		t.Run(tc.english, func(t *testing.T) {
			if got := Into(language.Italian, tc.english); got != tc.italian {
				t.Errorf("Into(it, %q) = %q, want %q", tc.english, got, tc.italian)
			}
			if got := Into(language.English, tc.english); got != tc.english {
				t.Errorf("Into(en, %q) = %q, want it unchanged", tc.english, got)
			}
		})
	}
}
