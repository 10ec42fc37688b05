//! Entry point of the wasm binary Trunk builds from `index.html`: mounts the app.
//! Everything else lives in the library (`lib.rs`), so it can be unit-tested natively.

fn main() {
    gik_app::mount();
}
