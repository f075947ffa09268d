//! The HTML pages: the dashboard (`/`), the table list (`/tables`) and a table's page
//! (`/tables/{name}`), all in one [`layout`]. Pages are plain server-rendered HTML with
//! inline SVG charts; the dashboard's only script refreshes its numbers in place.

pub mod dashboard;
pub mod layout;
pub mod tables;
