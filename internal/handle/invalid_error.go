package handle

// InvalidError reports input that is not a usable handle. Value keeps the
// input for the caller; Error leaves it out because handles are personal data
// and error strings end up in logs.
type InvalidError struct {
	Value  string
	Reason string
}

// Error describes why the handle was refused, without repeating it.
func (e *InvalidError) Error() string {
	return "invalid handle: " + e.Reason
}
