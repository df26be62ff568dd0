//! Offline checks of everything under deploy/, helm/, docker-compose.yml and docs/.
#![allow(clippy::unwrap_used)]

mod compose;
mod dashboard;
mod dockerfile;
mod docs;
mod ecs;
mod gotmpl;
mod helm_cli;
mod helm_objects;
mod helm_render;
mod helm_schema;
mod support;
