// Package contactsend is a client for Contactlab's Contactsend SOAP 1.2 API
// ("ClabService"): tokens, userDb (subscriber source) metadata, subscribers
// and subscription systems. It works against the production service
// (DefaultEndpoint) and, unchanged, against the simulator in sendsim.
//
// # Wire format
//
// SOAP 1.2, document/literal, empty action, Content-Type
// "application/soap+xml; charset=utf-8". Operation wrappers are in
// http://ws.api.contactlab.com/, their children unqualified; answers are
// <opResponse><return>…</return></opResponse>. Subscriber ids are int64
// throughout (xs:long in the live service; the 2016 WSDL still says xs:int).
//
// Attribute values carry an xsi:type chosen by their FieldType: STRING, TEXT
// and CHAR as xs:string; INTEGER and POSITIVE_INTEGER as xs:int; LONG as
// xs:long; DOUBLE as xs:double; FLAG as xs:boolean. DATE, DATETIME,
// TIMESTAMP and TIME are sent as xs:string in MySQL's formats (DateLayout,
// DateTimeLayout, TimeLayout), as the official PHP and Magento clients and
// the Java samples send them. Returned values are typed by whatever xsi:type
// they carry; Value.As converts them to a field's type.
//
// # Tenants and tokens
//
// Every call takes the tenant's Credentials. The client keeps one token per
// credential set (keyed by a hash of the keys, which are never logged),
// borrows it once however many calls need it at the same moment, keeps it
// alive (keepaliveToken) when it has gone two thirds of the idle window
// without a borrow or keepalive, borrows a new one without asking when it has
// been idle for the whole window, and borrows again once, then repeats the
// call, when the service reports the token expired or invalid. Close
// invalidates every token.
//
// # Errors
//
// A SOAP fault is a *Fault. The service (JAX-WS RI) declares no fault types
// and gives only the Java exception message, so faults are classified by
// their reason text into ErrTokenExpired, ErrBadCredentials, ErrInvalidValue,
// ErrUnknownWebForm, ErrUnknownUserDB and ErrUnknownSubscriber, matching the
// simulator's reasons and the phrases a Java service commonly uses ("token
// expired", "invalid apiKey", "not found", "cannot be converted", ...). An
// unrecognised fault unwraps to nothing and is permanent.
//
// HTTP 429, 500 (without a SOAP envelope), 502, 503 and 504 are
// *StatusError, and broken connections and timeouts are *TransportError;
// both report Temporary() true, and a Retry-After header is honoured through
// RetryAfter(). Calls are retried through the configured retry.Policy.
//
// AddSubscriber is not idempotent, so it is retried only when the service
// certainly did not act on it (429, 503, a connection never made). After any
// other failure it returns an error matching ErrOutcomeUnknown (still
// temporary, so a queued job is redelivered), and the caller finds the
// subscriber by its match fields before adding again; AddSubscriberOnce does
// exactly that. RemoveSubscriber treats "not found" after an ambiguous first
// attempt as success.
package contactsend
