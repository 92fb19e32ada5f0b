//! Hosted checkout: the page a platform sends its buyers to (`GET /checkout/{id}`), which takes
//! the session's payment by the ways it allows. The session itself is a customer's object,
//! changed in its actor (`actor::checkout`); the page is rendered here.

pub mod countries;
pub mod page;
pub mod subscription;
