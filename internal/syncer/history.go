package syncer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hubsend/hubsend/internal/history"
	"github.com/hubsend/hubsend/internal/mapping"
	"github.com/hubsend/hubsend/internal/subscriptions"
)

// History is where the worker records its decisions: the consent audit
// trail (package history). Recording never changes a decision.
type History interface {
	Add(ctx context.Context, retention time.Duration, entries ...history.Entry) error
	// Retention is how long the workspace keeps its trail.
	Retention(ctx context.Context, workspace string) (time.Duration, error)
}

// retentionTTL is how long a workspace's retention is reused without
// reading it again: a change applies to entries written after that.
const retentionTTL = 5 * time.Minute

// remember adds entries to the trail. The decisions are already carried
// out and in the ledger, so a failure to record them is logged, not
// retried: a retry would find nothing left to decide.
func (w *Worker) remember(ctx context.Context, e *env, entries ...history.Entry) {
	if w.history == nil || len(entries) == 0 {
		return
	}
	ctx, cancel := w.cleanupContext(ctx)
	defer cancel()
	retention := w.historyRetention
	if retention <= 0 {
		// The workspace's choice; its default if it cannot be read now.
		retention, _ = w.retentions.get(e.src.WorkspaceID, w.now(), retentionTTL, func() (time.Duration, error) {
			return w.history.Retention(ctx, e.src.WorkspaceID)
		})
	}
	if err := w.history.Add(ctx, retention, entries...); err != nil {
		w.log.ErrorContext(ctx, "consent trail entry lost", "source_id", e.src.ID, "customer_id", entries[0].CustomerID, "error", err)
	}
}

// subscriptionEntry describes a subscription row's decision for the trail.
func (w *Worker) subscriptionEntry(e *env, j jobRef, subscriberID, version int64, rd rowDecision, at time.Time) history.Entry {
	last, hv, sv, d := rd.last, rd.hub, rd.send, rd.d
	out := history.Entry{
		SourceID: e.src.ID, CustomerID: j.customerID, LedgerVersion: version, At: at, Kind: history.Subscription, Trigger: string(j.reason),
		SubscriberID: subscriberID, SubscriptionID: rd.row.HubSubscriptionID, Rule: d.Rule,
		HubBefore: hubState(hv), SendBefore: sendState(sv),
	}
	if hv.Present {
		out.HubAt = hv.UpdatedAt
	}
	if sv.Read {
		out.SendAt = sv.At
		if out.SendAt.IsZero() || out.SendAt.After(at) {
			out.SendAt = at // dated when seen
		}
	}
	hubChanged := subscriptions.NeedsSend(last, hv)
	sendChanged := sv.Read && sv.Status.IsSubscribed() != last.Subscribed
	switch {
	case !last.Known:
		out.Changed = history.FirstSync
	case hubChanged && sendChanged:
		out.Changed = history.Both
	case hubChanged:
		out.Changed = history.Contacthub
	case sendChanged:
		out.Changed = history.Contactsend
	default:
		out.Changed = history.Neither
	}
	out.HubAfter, out.SendAfter = out.HubBefore, out.SendBefore
	if !sv.Read {
		out.SendAfter = "" // not read and not written: unknown to this decision
	}
	switch d.Action {
	case subscriptions.WriteSend:
		out.SendAfter, out.Wrote, out.Echo = subscribedState(d.Subscribed), history.WroteContactsend, history.WroteContactsend
		out.WebformCode = rd.row.WebformCode
	case subscriptions.WriteHub:
		out.HubAfter, out.Wrote, out.Echo = subscribedState(d.Subscribed), history.WroteContacthub, history.WroteContacthub
	case subscriptions.Record:
		out.Wrote = history.WroteLedger
	}
	if rd.unsubscribesLinked() {
		// The unsubscribe came through a duplicate subscriber: hubsend
		// wrote it to the linked one as well.
		out.SendAfter, out.WebformCode = history.StateUnsubscribed, rd.row.WebformCode
		if out.Wrote == "" || out.Wrote == history.WroteLedger {
			out.Wrote, out.Echo = history.WroteContactsend, history.WroteContactsend
		}
	}
	return out
}

func subscribedState(b bool) string {
	if b {
		return history.StateSubscribed
	}
	return history.StateUnsubscribed
}

func hubState(h subscriptions.HubView) string {
	if !h.Present {
		return history.StateNone
	}
	return subscribedState(h.Subscribed)
}

func sendState(s subscriptions.SendView) string {
	if !s.Read {
		return history.StateNotRead
	}
	switch s.Status {
	case subscriptions.Subscribed:
		return history.StateSubscribed
	case subscriptions.Unsubscribed:
		return history.StateUnsubscribed
	case subscriptions.Pending:
		return history.StatePending
	}
	return history.StateUnknown
}

// fieldDigest is a short digest of each mapped value, by field, kept in the
// ledger so that the trail can name the fields a write changed without
// storing their values. Fields are in the attributes' order.
func fieldDigest(attrs mapping.Attributes) string {
	var b strings.Builder
	for i, a := range attrs {
		h := sha256.New()
		if a.Clear {
			h.Write([]byte("\x00clear"))
		} else {
			h.Write([]byte(strconv.Itoa(len(a.Text)) + ":" + a.Text))
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a.Field)
		b.WriteByte('=')
		b.WriteString(hex.EncodeToString(h.Sum(nil)[:4]))
	}
	return b.String()
}

// changedFields names the fields whose digest differs between two
// digests; with no previous digest (an entry from before digests were
// kept), every field of next.
func changedFields(prev, next string) []string {
	old := map[string]string{}
	for part := range strings.SplitSeq(prev, ",") {
		if name, sum, ok := strings.Cut(part, "="); ok {
			old[name] = sum
		}
	}
	var out []string
	for part := range strings.SplitSeq(next, ",") {
		name, sum, ok := strings.Cut(part, "=")
		if ok && (prev == "" || old[name] != sum) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// fieldNames names the fields a new subscriber was given.
func fieldNames(attrs mapping.Attributes) []string {
	var out []string
	for _, a := range attrs {
		if !a.Clear && a.Text != "" {
			out = append(out, a.Field)
		}
	}
	slices.Sort(out)
	return out
}
