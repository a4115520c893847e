//! Kernel calibration (CUDA through cudarc, CPU). Filled by the calibration issue (#7); empty for now.
