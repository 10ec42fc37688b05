//! Waiting on the browser's event loop: a zero-delay yield, a sleep and a wait for idle time.
//!
//! Why: the page runs on one thread, so work done in one go (a run of decodes, fifty storage
//! writes) is one long task during which the page cannot paint or answer the user. These let a
//! piece of work end its task and continue in a later one. Each resolves at once where there is
//! no window (a worker without timers, native tests), so callers never hang.

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// Longest wait for idle time before work runs anyway (a page that is never idle, e.g. while
/// a view's fifty members load, must still store what it read).
pub const IDLE_TIMEOUT_MS: u32 = 1_000;

/// Awaits a promise whose executor is `schedule(resolve)`; if `schedule` could not arrange
/// a call, resolves at once.
async fn wait(schedule: impl FnOnce(&js_sys::Function) -> bool) {
    let mut schedule = Some(schedule);
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let scheduled = schedule.take().is_some_and(|s| s(&resolve));
        if !scheduled {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// Resolves after `ms` milliseconds (a browser timer).
pub async fn sleep_ms(ms: i32) {
    wait(|resolve| {
        web_sys::window().is_some_and(|w| {
            w.set_timeout_with_callback_and_timeout_and_arguments_0(resolve, ms)
                .is_ok()
        })
    })
    .await;
}

/// Lets the browser handle events and paint before the next piece of work (a zero-delay
/// timer, so a run of decodes never freezes the page).
pub async fn yield_now() {
    sleep_ms(0).await;
}

/// Resolves in a task of its own when the browser is idle (`requestIdleCallback`), at the
/// latest after [`IDLE_TIMEOUT_MS`]; where the browser has no `requestIdleCallback` (Safari),
/// after a zero-delay timer. For work nobody waits for, such as writing to the store.
pub async fn when_idle() {
    let idle = web_sys::window().and_then(|w| {
        let f = js_sys::Reflect::get(&w, &"requestIdleCallback".into()).ok()?;
        f.dyn_into::<js_sys::Function>().ok().map(|f| (w, f))
    });
    let Some((window, request)) = idle else {
        return yield_now().await;
    };
    wait(|resolve| {
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"timeout".into(), &IDLE_TIMEOUT_MS.into());
        request.call2(&window, resolve, &options).is_ok()
    })
    .await;
}
