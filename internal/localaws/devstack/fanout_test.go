package devstack_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hubsend/hubsend/internal/localaws/devstack"
	"github.com/hubsend/hubsend/internal/testkit"
)

// TestScheduleFansOutThroughTheTickQueue runs the schedule as the deployed
// stack does, with nothing called by hand: the scheduled tick sends a tick
// per source to the tick queue, whose local event source mapping runs the
// source tick function, which backfills the new source and then carries a
// change from the feed to Contactsend.
func TestScheduleFansOutThroughTheTickQueue(t *testing.T) {
	stack, err := devstack.Start(t.Context(), devstack.Options{DemoCustomers: 8, ScheduleEvery: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stack.Close() })
	if stack.Queues.TickURL == "" {
		t.Fatal("the local stack has no tick queue")
	}
	node, customers := italianNode(t, stack)
	createSource(t, stack, node)
	testkit.Eventually(t, 30*time.Second, func() string {
		subs := stack.SubscribersByEmailT(t)
		for _, c := range customers {
			if _, ok := subs[emailOf(c)]; !ok {
				return "no subscriber yet for " + emailOf(c)
			}
		}
		return ""
	})
	first := customers[0]
	if _, err := hubClient(t, stack).PatchCustomer(t.Context(), first["id"].(string), map[string]any{"base": map[string]any{"firstName": "Ginevra"}}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, func() string {
		if name := fmt.Sprint(stack.SubscribersByEmailT(t)[emailOf(first)]["FIRST_NAME"]); name != "Ginevra" {
			return "FIRST_NAME is still " + name
		}
		return ""
	})
}
