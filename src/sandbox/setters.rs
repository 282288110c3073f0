//! The plain setters of the configuration types (`SandboxConfig`, `Faults`,
//! `FaultSettings`).

/// Plain setters, each with its doc and a doc example built from an example argument; a
/// `=> Wrapper` wraps the converted value (`Some`, say).
macro_rules! setters {
    ($t:ident; $($(#[doc = $doc:literal])+ $name:ident: $ty:ty $(=> $wrap:path)? = $example:expr;)+) => {$(
        $(#[doc = $doc])+
        ///
        /// ```
        #[doc = concat!("let _ = roboflow_batch::sandbox::", stringify!($t), "::default().",
            stringify!($name), "(", stringify!($example), ");")]
        /// ```
        pub fn $name(mut self, value: $ty) -> Self {
            self.$name = $($wrap)?(value.into());
            self
        }
    )+};
}
pub(crate) use setters;
