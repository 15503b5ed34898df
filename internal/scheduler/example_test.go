package scheduler_test

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/rotatord/rotatord/internal/clock/clocktest"
	"github.com/rotatord/rotatord/internal/scheduler"
)

// An OAuth2 data source runs at start, because Power BI keeps no refresh
// token, and then ten minutes before each token expires, well ahead of its
// daily schedule.
func Example() {
	clk := clocktest.NewFake(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
	ctx, cancel := context.WithCancel(context.Background())
	s := scheduler.New(scheduler.Options{
		Clock: clk,
		Rand:  func() float64 { return 0.5 },
		OnTick: func(r scheduler.TickReport) {
			fmt.Printf("%s ran at %s in %d attempt(s), err=%v, next at %s\n",
				r.Job, r.Start.Format("15:04"), r.Attempts, r.Err, r.Next.Format("15:04"))
			cancel()
		},
	})
	err := s.SetJobs([]scheduler.Job{{
		Name:       "lake-oauth",
		Schedule:   "@every 24h",
		Jitter:     5 * time.Minute,
		RunAtStart: true,
		Retry:      scheduler.Retry{Attempts: 5, InitialBackoff: 2 * time.Second, MaxBackoff: 2 * time.Minute},
		Run: func(ctx context.Context) (scheduler.Result, error) {
			// Fetch a token, PATCH it into Power BI, report when it dies.
			return scheduler.Result{ExpiresAt: clk.Now().Add(time.Hour)}, nil
		},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("run:", s.Run(ctx))
	// Output:
	// lake-oauth ran at 09:00 in 1 attempt(s), err=<nil>, next at 09:50
	// run: <nil>
}

func ExampleNextRun() {
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	nightly, _ := cron.ParseStandard("0 3 * * *")
	half := func() float64 { return 0.5 }

	fmt.Println(scheduler.NextRun(now, nightly, 10*time.Minute, time.Time{}, 0, half))
	// A secret that expires before the cron time is renewed ten minutes ahead.
	fmt.Println(scheduler.NextRun(now, nightly, 10*time.Minute, now.Add(6*time.Hour), 10*time.Minute, half))
	// One already past its renewal time is retried in a minute, not at once.
	fmt.Println(scheduler.NextRun(now, cron.Every(time.Hour), 0, now, 10*time.Minute, half))
	// Output:
	// 2026-01-02 03:05:00 +0000 UTC
	// 2026-01-01 14:50:00 +0000 UTC
	// 2026-01-01 09:01:00 +0000 UTC
}
