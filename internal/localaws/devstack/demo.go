package devstack

import (
	"fmt"
	"math/rand/v2"

	"github.com/hubsend/hubsend/internal/simulators/sendsim"
)

// Demo credentials of the local Contactsend account. They are not secrets:
// they exist only in the simulator.
const (
	DemoSendAPIKey  = "demo-api-key-000000000001"
	DemoSendUserKey = "demo-user-key-00000000001"
	DemoUserDB      = 1001
)

// demoContactsendSeed is a userdb shaped like a real newsletter database:
// typed fields for the demo's Contacthub fields and two subscription
// systems, with a few subscribers already there (some matching demo
// customers by email, as in a real first sync).
func demoContactsendSeed(randomSeed uint64) sendsim.Seed {
	rng := rand.New(rand.NewPCG(randomSeed, randomSeed+7))
	seed := sendsim.Seed{
		NextSubscriberID: 1 << 31,
		Accounts: []sendsim.Account{
			{APIKey: DemoSendAPIKey, UserKey: DemoSendUserKey, UserDBs: []int64{DemoUserDB, DemoUserDB + 1}},
		},
		UserDBs: []sendsim.UserDB{
			{
				ID:          DemoUserDB,
				Name:        "Newsletter clienti",
				Description: "Iscritti alla newsletter del negozio online",
				Fields: []sendsim.Field{
					{Name: "EMAIL", Type: "STRING", EmailField: true},
					{Name: "FIRST_NAME", Type: "STRING"},
					{Name: "LAST_NAME", Type: "STRING"},
					{Name: "GENDER", Type: "STRING"},
					{Name: "BIRTH_DATE", Type: "DATE"},
					{Name: "CITY", Type: "STRING"},
					{Name: "COUNTRY", Type: "STRING"},
					{Name: "MOBILE", Type: "STRING", PhoneField: true},
					{Name: "LOYALTY_POINTS", Type: "INTEGER"},
					{Name: "VIP", Type: "FLAG"},
					{Name: "CUSTOMER_CODE", Type: "STRING"},
					{Name: "LAST_PURCHASE_AT", Type: "DATETIME"},
					{Name: "NOTES", Type: "TEXT"},
				},
				Subscriptions: []sendsim.Subscription{
					{ID: 1, Name: "Newsletter", RegistrationField: "__cls1", WebformCode: "230004001355"},
					{ID: 2, Name: "Promozioni", RegistrationField: "__cls2", WebformCode: "230004001356"},
				},
			},
			{
				ID:   DemoUserDB + 1,
				Name: "Eventi",
				Fields: []sendsim.Field{
					{Name: "EMAIL", Type: "STRING", EmailField: true},
					{Name: "NAME", Type: "STRING"},
				},
				Subscriptions: []sendsim.Subscription{{ID: 3, Name: "Inviti", RegistrationField: "__cls1", WebformCode: "230004001400"}},
			},
		},
	}
	for i := range 5 {
		seed.UserDBs[0].Subscribers = append(seed.UserDBs[0].Subscribers, sendsim.Subscriber{
			ID: int64(1<<31) - 100 + int64(i),
			Attributes: map[string]any{
				"EMAIL":  fmt.Sprintf("lettore.%d@example.org", i),
				"__cls1": []int{1, -1, 0}[rng.IntN(3)],
			},
		})
	}
	return seed
}
