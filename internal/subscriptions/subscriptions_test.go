package subscriptions

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func at(seconds int) time.Time { return t0.Add(time.Duration(seconds) * time.Second) }

func TestDecide(t *testing.T) {
	// The ledger's synced states the cases start from.
	subscribedByHub := Synced{Known: true, Subscribed: true, At: at(0), Origin: Hub, HubUpdatedAt: at(0)}
	unsubscribedBySend := Synced{Known: true, Subscribed: false, At: at(0), Origin: Send, HubUpdatedAt: at(0)}
	hub := func(present, subscribed bool, updated int) HubView {
		return HubView{Present: present, Subscribed: subscribed, UpdatedAt: at(updated)}
	}
	send := func(s SendStatus) SendView { return SendView{Read: true, Status: s} }
	unread := SendView{}

	tests := []struct {
		name       string
		last       Synced
		hub        HubView
		send       SendView
		now        int
		action     Action
		subscribed bool
	}{
		{"no change", subscribedByHub, hub(true, true, 0), send(Subscribed), 100, None, true},
		{"no change, send not read", subscribedByHub, hub(true, true, 0), unread, 100, None, true},
		{"echo of hubsend's write to Contacthub", unsubscribedBySend, hub(true, false, 0), send(Unsubscribed), 100, None, false},
		{"echo of hubsend's write to Contactsend", Synced{Known: true, Subscribed: true, At: at(0), Origin: Hub, HubUpdatedAt: at(0)}, hub(true, true, 0), send(Subscribed), 100, None, true},
		{"Contacthub unsubscribes", subscribedByHub, hub(true, false, 50), send(Subscribed), 100, WriteSend, false},
		{"Contacthub unsubscribes, send not read", subscribedByHub, hub(true, false, 50), unread, 100, WriteSend, false},
		{"Contacthub deletes the subscription object", subscribedByHub, HubView{}, send(Subscribed), 100, WriteSend, false},
		{"Contacthub subscribes", unsubscribedBySend, hub(true, true, 50), send(Unsubscribed), 100, WriteSend, true},
		{"Contactsend unsubscribes", subscribedByHub, hub(true, true, 0), send(Unsubscribed), 100, WriteHub, false},
		{"Contactsend pending is not subscribed", subscribedByHub, hub(true, true, 0), send(Pending), 100, WriteHub, false},
		{"Contactsend pending never subscribes", unsubscribedBySend, hub(true, false, 0), send(Pending), 100, None, false},
		{"Contactsend subscribes explicitly", unsubscribedBySend, hub(true, false, 0), send(Subscribed), 100, WriteHub, true},
		{"both changed alike: nothing to write", subscribedByHub, hub(true, false, 50), send(Unsubscribed), 100, Record, false},
		{"Contacthub touched without changing the flag", subscribedByHub, hub(true, true, 50), send(Subscribed), 100, Record, true},
		{"conflict: Contacthub later wins", unsubscribedBySend, hub(true, false, 100), send(Subscribed), 90, WriteSend, false},
		{"conflict: Contactsend later wins", unsubscribedBySend, hub(true, false, 50), send(Subscribed), 90, WriteHub, true},
		{"conflict: Contacthub later resubscribes", subscribedByHub, hub(true, true, 100), SendView{Read: true, Status: Unsubscribed, At: at(90)}, 200, WriteSend, true},
		{"conflict: a Contacthub date in the future does not beat a Contactsend unsubscribe", subscribedByHub, hub(true, true, 3600), SendView{Read: true, Status: Unsubscribed, At: at(95)}, 100, WriteHub, false},
		{"conflict: a Contacthub date in the future does not beat an undated Contactsend unsubscribe", subscribedByHub, hub(true, true, 3600), send(Unsubscribed), 100, WriteHub, false},
		{"a Contacthub change dated in the future alone is applied", unsubscribedBySend, hub(true, true, 3600), send(Unsubscribed), 100, WriteSend, true},
		{"conflict: tie unsubscribes (hub subscribed)", subscribedByHub, hub(true, true, 91), send(Unsubscribed), 90, WriteHub, false},
		{"conflict: tie unsubscribes (send subscribed)", unsubscribedBySend, hub(true, false, 89), send(Subscribed), 90, WriteSend, false},
		{"conflict: exactly the tolerance is a tie", unsubscribedBySend, hub(true, false, 92), send(Subscribed), 90, WriteSend, false},
		{"stale Contacthub subscribe is undone", Synced{Known: true, Subscribed: false, At: at(100), Origin: Send, HubUpdatedAt: at(100)}, hub(true, true, 50), send(Unsubscribed), 200, WriteHub, false},
		{"stale Contacthub unsubscribe is applied", Synced{Known: true, Subscribed: true, At: at(100), Origin: Send, HubUpdatedAt: at(100)}, hub(true, false, 50), send(Subscribed), 200, WriteSend, false},
		{"Contacthub change within tolerance of the synced one is applied", Synced{Known: true, Subscribed: false, At: at(100), Origin: Send, HubUpdatedAt: at(90)}, hub(true, true, 99), send(Unsubscribed), 200, WriteSend, true},
		{"first sync: agree subscribed", Synced{}, hub(true, true, 10), send(Subscribed), 100, Record, true},
		{"first sync: no object and pending agree", Synced{}, HubView{}, send(Pending), 100, Record, false},
		{"first sync: no object and unsubscribed agree", Synced{}, HubView{}, send(Unsubscribed), 100, Record, false},
		{"first sync: Contacthub subscribed, Contactsend pending", Synced{}, hub(true, true, 10), send(Pending), 100, WriteSend, true},
		{"first sync: Contacthub subscribed, send not read yet counts as pending", Synced{}, hub(true, true, 10), unread, 100, WriteSend, true},
		{"first sync: no object, Contactsend subscribed", Synced{}, HubView{}, send(Subscribed), 100, WriteHub, true},
		{"first sync: Contacthub subscribed, Contactsend unsubscribed", Synced{}, hub(true, true, 10), send(Unsubscribed), 100, WriteHub, false},
		{"first sync: Contacthub unsubscribed, Contactsend subscribed", Synced{}, hub(true, false, 10), send(Subscribed), 100, WriteSend, false},
		{"first sync: Contacthub unsubscribed, Contactsend pending", Synced{}, hub(true, false, 10), send(Pending), 100, WriteSend, false},
		{"first sync: Contacthub unsubscribed, Contactsend unsubscribed", Synced{}, hub(true, false, 10), send(Unsubscribed), 100, Record, false},
		{"first sync: no object, send not read yet", Synced{}, HubView{}, unread, 100, Record, false},
		{"a Contacthub unsubscribe recorded while Contactsend shows pending is written", Synced{Known: true, Subscribed: false, At: at(0), Origin: Hub, HubUpdatedAt: at(0)}, hub(true, false, 0), send(Pending), 100, WriteSend, false},
		{"a Contacthub unsubscribe recorded, send not read", Synced{Known: true, Subscribed: false, At: at(0), Origin: Hub, HubUpdatedAt: at(0)}, hub(true, false, 0), unread, 100, None, false},
		{"Contacthub creates an explicit unsubscribe over pending", Synced{Known: true, Subscribed: false, At: at(0), Origin: Send}, hub(true, false, 50), send(Pending), 100, WriteSend, false},
		{"both say not subscribed: Contacthub's later no is written over pending", subscribedByHub, hub(true, false, 50), SendView{Read: true, Status: Pending, At: at(40)}, 100, WriteSend, false},
		{"both say not subscribed: a later pending stays", subscribedByHub, hub(true, false, 50), SendView{Read: true, Status: Pending, At: at(80)}, 100, Record, false},
		{"first sync: Contacthub unsubscribed, Contactsend holds an unknown status", Synced{}, hub(true, false, 10), send(SendStatus(2)), 100, WriteSend, false},
		{"first sync: Contacthub subscribed, Contactsend holds an unknown status", Synced{}, hub(true, true, 10), send(SendStatus(2)), 100, WriteSend, true},
		{"first sync: no object, Contactsend holds an unknown status", Synced{}, HubView{}, send(SendStatus(2)), 100, Record, false},
		{"Contacthub unsubscribes over an unknown status", subscribedByHub, hub(true, false, 50), send(SendStatus(2)), 100, WriteSend, false},
		{"an unknown status is not subscribed", subscribedByHub, hub(true, true, 0), send(SendStatus(-2)), 100, WriteHub, false},
		{"an unknown status never subscribes", unsubscribedBySend, hub(true, false, 0), send(SendStatus(2)), 100, None, false},
		{"no object and pending after a first sync stay", Synced{Known: true, Subscribed: false, At: at(0), Origin: Send}, HubView{}, send(Pending), 100, None, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.last, tt.hub, tt.send, at(tt.now))
			if d.Action != tt.action || d.Subscribed != tt.subscribed {
				t.Errorf("Decide = %s subscribed=%v (%s), want %s subscribed=%v", d.Action, d.Subscribed, d.Rule, tt.action, tt.subscribed)
			}
			if d.Rule == "" {
				t.Error("the decision names no rule")
			}
		})
	}
}

// TestDecideSettles checks that carrying out a decision and deciding again
// on the result writes nothing: hubsend's own writes are echoes.
func TestDecideSettles(t *testing.T) {
	states := []SendStatus{Unsubscribed, Pending, Subscribed, SendStatus(2)}
	lasts := []Synced{
		{},
		{Known: true, Subscribed: true, At: at(0), Origin: Hub, HubUpdatedAt: at(0)},
		{Known: true, Subscribed: false, At: at(0), Origin: Send, HubUpdatedAt: at(0)},
	}
	for _, last := range lasts {
		for _, present := range []bool{false, true} {
			for _, flag := range []bool{false, true} {
				for _, status := range states {
					hub := HubView{Present: present, Subscribed: flag && present, UpdatedAt: at(50)}
					d := Decide(last, hub, SendView{Read: true, Status: status}, at(60))
					after, sendAfter := hub, status
					hubUpdated := hub.UpdatedAt
					switch d.Action {
					case WriteHub:
						after = HubView{Present: true, Subscribed: d.Subscribed, UpdatedAt: at(61)}
						hubUpdated = at(61)
					case WriteSend:
						sendAfter = Unsubscribed
						if d.Subscribed {
							sendAfter = Subscribed
						}
					}
					again := Decide(d.Synced(hubUpdated), after, SendView{Read: true, Status: sendAfter}, at(70))
					if again.Action != None {
						t.Errorf("last=%+v hub=%+v send=%d: %s then %s (%s)", last, hub, status, d.Action, again.Action, again.Rule)
					}
					if (after.Present && after.Subscribed) != sendAfter.IsSubscribed() {
						t.Errorf("last=%+v hub=%+v send=%d: sides disagree after %s", last, hub, status, d.Action)
					}
				}
			}
		}
	}
}

func TestNeedsSend(t *testing.T) {
	last := Synced{Known: true, Subscribed: true, At: at(0), Origin: Hub, HubUpdatedAt: at(0)}
	if NeedsSend(last, HubView{Present: true, Subscribed: true, UpdatedAt: at(0)}) {
		t.Error("an unchanged Contacthub side needs no Contactsend read")
	}
	if !NeedsSend(last, HubView{Present: true, Subscribed: false, UpdatedAt: at(5)}) {
		t.Error("a Contacthub change needs the Contactsend status")
	}
	if !NeedsSend(Synced{}, HubView{}) {
		t.Error("a first sync needs the Contactsend status")
	}
}

// TestDecideEventTime dates Contactsend changes by their event: a change
// made before a Contacthub change loses to it even when seen after it.
func TestDecideEventTime(t *testing.T) {
	// Subscribed by Contacthub at 0; Contactsend then unsubscribes, and
	// Contacthub re-affirms the subscription at 50; hubsend decides at 100.
	last := Synced{Known: true, Subscribed: true, At: at(0), Origin: Hub, HubUpdatedAt: at(0)}
	hub := HubView{Present: true, Subscribed: true, UpdatedAt: at(50)}
	tests := []struct {
		name       string
		eventAt    time.Time
		action     Action
		subscribed bool
		uncertain  bool
		dated      time.Time
	}{
		{"no event: dated when seen, later, and uncertain", time.Time{}, WriteHub, false, true, at(100)},
		{"event before the Contacthub change: Contacthub wins", at(40), WriteSend, true, false, at(50)},
		{"event within the tolerance: a tie unsubscribes", at(49), WriteHub, false, false, at(50)},
		{"event after the Contacthub change: Contactsend wins", at(60), WriteHub, false, false, at(60)},
		{"event in the future: read as now", at(500), WriteHub, false, false, at(100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(last, hub, SendView{Read: true, Status: Unsubscribed, At: tt.eventAt}, at(100))
			if d.Action != tt.action || d.Subscribed != tt.subscribed || d.Uncertain != tt.uncertain || !d.At.Equal(tt.dated) {
				t.Errorf("Decide = %s subscribed=%v uncertain=%v at %v (%s), want %s subscribed=%v uncertain=%v at %v",
					d.Action, d.Subscribed, d.Uncertain, d.At, d.Rule, tt.action, tt.subscribed, tt.uncertain, tt.dated)
			}
		})
	}
	// Only Contactsend changed: the change keeps its event's date.
	d := Decide(last, HubView{Present: true, Subscribed: true, UpdatedAt: at(0)}, SendView{Read: true, Status: Unsubscribed, At: at(30)}, at(100))
	if d.Action != WriteHub || !d.At.Equal(at(30)) || d.Uncertain {
		t.Errorf("a dated Contactsend change = %+v, want write-hub at %v", d, at(30))
	}
}
