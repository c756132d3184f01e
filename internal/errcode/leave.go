package errcode

// LeaveReason says why a member left a channel (error-codes.md, "Leave reasons").
// It appears in logs, webhooks and metrics.
type LeaveReason int

// Leave reasons.
const (
	LeaveOther       LeaveReason = 0
	LeaveNormal      LeaveReason = 1
	LeaveTimeout     LeaveReason = 2
	LeaveKicked      LeaveReason = 3
	LeaveDrain       LeaveReason = 4
	LeaveUIDConflict LeaveReason = 5
	LeaveMultipleIPs LeaveReason = 9
	LeaveNetwork     LeaveReason = 10
)

// String names the reason for logs.
func (r LeaveReason) String() string {
	switch r {
	case LeaveNormal:
		return "normal"
	case LeaveTimeout:
		return "timeout"
	case LeaveKicked:
		return "kicked"
	case LeaveDrain:
		return "drain"
	case LeaveUIDConflict:
		return "uid-conflict"
	case LeaveMultipleIPs:
		return "multiple-ips"
	case LeaveNetwork:
		return "network"
	default:
		return "other"
	}
}
