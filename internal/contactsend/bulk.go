package contactsend

import (
	"context"
	"fmt"
)

// BulkPageSize is how many subscribers one AddSubscribers call carries by
// default: Contactsend's guidance is a DataExchange "for more than about 500
// records at a time", so a page stays at that size.
const BulkPageSize = 500

// AddSubscribers creates every subscriber of subs in one call and returns
// how many the service created. The service returns no identifiers: a
// caller links the new subscribers by reading them back by their match
// attributes. Like AddSubscriber it is not idempotent: after a failure
// matching ErrOutcomeUnknown some or all may exist, and the caller reads
// before adding again.
func (c *Client) AddSubscribers(ctx context.Context, cred Credentials, userDBID int64, subs []Subscriber) (int, error) {
	if len(subs) == 0 {
		return 0, nil
	}
	for i, s := range subs {
		if s.ID != 0 {
			return 0, fmt.Errorf("contactsend: addSubscribers: %w: subscriber %d has an id; the service assigns them", ErrInvalidValue, i)
		}
		if len(s.Attributes) == 0 {
			return 0, fmt.Errorf("contactsend: addSubscribers: %w: subscriber %d has no attributes", ErrInvalidValue, i)
		}
		for _, a := range s.Attributes {
			if a.Value.IsNull() {
				return 0, fmt.Errorf("contactsend: addSubscribers: %w: subscriber %d: attribute %s is null (the schema has no nil values)", ErrInvalidValue, i, a.Key)
			}
			if err := a.Value.check(); err != nil {
				return 0, fmt.Errorf("contactsend: addSubscribers: subscriber %d: attribute %s: %w", i, a.Key, err)
			}
		}
	}
	var n wireScalar
	err := c.invoke(ctx, cred, &call{
		op: "addSubscribers",
		body: func(b *xmlBody) {
			b.int("sourceIdentifier", userDBID)
			b.open("subscribers")
			b.int("currentPageNumber", 1)
			b.int("maxPageNumber", 1)
			for _, s := range subs {
				b.subscriber("currentPageItems", s)
			}
			b.close("subscribers")
		},
		out: &n,
	})
	if err != nil {
		return 0, err
	}
	created, err := n.int64()
	if err != nil {
		return 0, fmt.Errorf("contactsend: addSubscribers: %w", err)
	}
	return int(created), nil
}
