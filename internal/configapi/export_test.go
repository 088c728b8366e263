package configapi

// SetPartLimits lets a test reach the parts of a retry of all and of the
// CSV export with a few records instead of thousands.
func SetPartLimits(a *API, retryAll, csvBytes, page int) {
	a.parts = partLimits{retryAll: retryAll, csvBytes: csvBytes, page: page}
}
