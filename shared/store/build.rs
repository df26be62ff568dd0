//! refinery embeds the migration files at compile time; without this, adding a new migration
//! file would not rebuild the crate.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations/postgres");
    println!("cargo:rerun-if-changed=../../migrations/sqlite");
}
