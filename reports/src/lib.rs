pub use polars;
