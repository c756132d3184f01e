package webrtc

import (
	"errors"

	"github.com/minirtc/minirtc/internal/errcode"
)

// isReplaced reports whether the hub ended a publisher because a newer one
// of the same uid took over (the member then stays, it is the newer one's).
func isReplaced(reason error) bool {
	var e *errcode.Error
	return errors.As(reason, &e) && e.Reason == errcode.ReasonConflict
}
