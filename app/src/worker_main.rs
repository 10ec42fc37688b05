//! Entry point of the decode worker Trunk builds from `index.html` (`data-type="worker"`): each
//! Web Worker of the page's pool runs this wasm and answers decode requests
//! (`gik_app::worker`).

fn main() {
    gik_app::worker::serve();
}
