package app

import "github.com/linegate/linegate/internal/schedule"

// schedule builds a runner for jobs on the database clock's leadership
// (package schedule) and remembers the jobs, so that BackgroundJobs lists
// exactly what the instance runs.
func (a *App) schedule(jobs ...schedule.Job) (*schedule.Runner, error) {
	r, err := schedule.New(a.pool, a.logger, a.metrics, schedule.Config{Now: a.now}, jobs...)
	if err != nil {
		return nil, err
	}
	a.scheduled = append(a.scheduled, jobs...)
	return r, nil
}

// BackgroundJobs lists the instance's scheduled jobs, each with the function
// its schedule runs, for the benchmark, which times one run of each against
// a large database.
func (a *App) BackgroundJobs() []schedule.Job { return a.scheduled }
