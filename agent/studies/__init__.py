"""Studies: failure-recovery evaluations (`wallwm eval`, `wallwm calibrate`), their reports and
plots, episode videos (`wallwm replay --video`), and the closed-loop model evaluation
(`wallwm eval-model`)."""
