package contactsend

import (
	"errors"
	"testing"
)

// FuzzDecodeResponse feeds arbitrary bytes to the response decoder: it must
// never panic, and a decoded fault is always classified consistently.
func FuzzDecodeResponse(f *testing.F) {
	seeds := []string{
		`<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope"><S:Body><ns2:getSubscriberResponse xmlns:ns2="http://ws.api.contactlab.com/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema"><return><identifier>2147483648</identifier><attributes><key>EMAIL</key><value xsi:type="xs:string">a@b.it</value></attributes><attributes><key>__cls1</key><value xsi:type="xs:int">1</value></attributes><attributes><key>X</key><value xsi:nil="true"/></attributes></return></ns2:getSubscriberResponse></S:Body></S:Envelope>`,
		`<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope"><S:Body><S:Fault><S:Code><S:Value>S:Receiver</S:Value></S:Code><S:Reason><S:Text xml:lang="en">Invalid token</S:Text></S:Reason><S:Detail><x>y</x></S:Detail></S:Fault></S:Body></S:Envelope>`,
		`<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>Subscriber not found</faultstring></soap:Fault></soap:Body></soap:Envelope>`,
		`<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope"><S:Header/><S:Body><ns2:getSubscriberResponse xmlns:ns2="http://ws.api.contactlab.com/"><return><currentPageNumber>1</currentPageNumber><maxPageNumber>2</maxPageNumber><currentPageItems><identifier>1</identifier></currentPageItems></return></ns2:getSubscriberResponse></S:Body></S:Envelope>`,
		`<S:Envelope xmlns:S="x"><S:Body><getSubscriberResponse/></S:Body></S:Envelope>`,
		`<a>`, ``, `<?xml version="1.0"?><Envelope><Body></Body></Envelope>`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var sub wireSubscriber
		err := decodeResponse(data, "getSubscriber", &sub)
		var fault *Fault
		if errors.As(err, &fault) {
			if got := classify(fault.Reason); got != fault.Unwrap() {
				t.Fatalf("fault %q classified as %v, unwraps to %v", fault.Reason, got, fault.Unwrap())
			}
			return
		}
		if err == nil {
			if _, err := sub.subscriber(); err != nil {
				return // a bad identifier is an error, not a panic
			}
		}
		var page wireSubscribers
		if decodeResponse(data, "getSubscriber", &page) == nil {
			page.page()
		}
	})
}
