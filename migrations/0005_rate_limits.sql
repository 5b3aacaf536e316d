-- Fixed-window counters shared by every instance: login throttling must hold across
-- a load balancer, so its state lives here rather than in one process.
CREATE TABLE rate_limits (
    key          TEXT   NOT NULL,
    window_start BIGINT NOT NULL,
    hits         BIGINT NOT NULL,
    CONSTRAINT rate_limits_pkey PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limits_window_idx ON rate_limits (window_start);
