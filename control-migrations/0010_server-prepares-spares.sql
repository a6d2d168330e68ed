-- Up Migration

-- Whether the server's spare loop runs (NFR_WARM_SPARE on, NFR_RECOVER_INTERVAL_SECONDS > 0): a
-- CLI restore leaves the next spare to a live server only when this says it makes spares, so a
-- server with spares off does not leave a warm snapshot without one. False for servers of 0009.
alter table nfr_server add column prepares_spares boolean not null default false;

-- Down Migration

alter table nfr_server drop column prepares_spares;
