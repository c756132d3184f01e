package media

import "errors"

var (
	// errPublisherGone: Write on a publisher the hub has ended or replaced.
	errPublisherGone = errors.New("media: publisher was ended or replaced")
	// errStreamEnded: internal, the stream ended while being subscribed.
	errStreamEnded = errors.New("media: stream ended")
)

// ErrPublisherGone is returned by Publisher.Write once the hub has ended or
// replaced the publisher; the ingest adapter should stop reading.
var ErrPublisherGone = errPublisherGone
