//! The default inter-region latency matrix: the AWS 13-region one-way delays
//! that CometBFT's own QA uses for latency emulation
//! (cometbft/cometbft `test/e2e/pkg/files/aws-latencies.csv`; see
//! `scenarios/SOURCES.md`). Each cell is already one-way, row = sender; within
//! a region the cell is 0. CometBFT's QA applies it per message with a normal
//! jitter whose standard deviation is 5% of the cell, which is our default too.

pub const AWS_REGIONS: [&str; 13] = [
    "N_Virginia",
    "Canada",
    "N_California",
    "London",
    "Oregon",
    "Ireland",
    "Frankfurt",
    "S_Paulo",
    "Tokyo",
    "Mumbai",
    "Sydney",
    "Seoul",
    "Singapore",
];

/// One-way delay in milliseconds, `AWS_ONE_WAY_MS[from][to]`.
pub const AWS_ONE_WAY_MS: [[u32; 13]; 13] = [
    [0, 7, 30, 38, 39, 33, 44, 58, 73, 93, 98, 87, 105],
    [7, 0, 38, 39, 29, 35, 46, 63, 70, 94, 97, 85, 103],
    [30, 39, 0, 68, 10, 68, 75, 88, 54, 116, 69, 67, 86],
    [38, 39, 68, 0, 63, 5, 8, 94, 104, 56, 131, 118, 82],
    [39, 29, 10, 63, 0, 59, 68, 88, 49, 109, 69, 63, 84],
    [33, 35, 68, 5, 59, 0, 13, 88, 100, 61, 127, 114, 90],
    [44, 46, 75, 8, 68, 13, 0, 101, 111, 60, 143, 109, 77],
    [58, 63, 88, 94, 88, 89, 101, 0, 128, 151, 155, 142, 161],
    [73, 70, 54, 104, 49, 100, 111, 128, 0, 60, 57, 16, 39],
    [93, 94, 116, 56, 109, 61, 60, 151, 60, 0, 76, 57, 27],
    [98, 97, 69, 131, 69, 127, 143, 155, 57, 76, 0, 69, 45],
    [87, 84, 67, 118, 63, 114, 109, 142, 17, 57, 69, 0, 36],
    [105, 103, 86, 82, 81, 90, 77, 161, 39, 27, 45, 36, 0],
];

/// The AWS sub-matrix for `names`, or `None` if a name is not an AWS region.
pub fn aws_submatrix(names: &[String]) -> Option<Vec<Vec<f64>>> {
    let idx: Option<Vec<usize>> = names
        .iter()
        .map(|n| AWS_REGIONS.iter().position(|r| r == n))
        .collect();
    let idx = idx?;
    Some(
        idx.iter()
            .map(|&i| idx.iter().map(|&j| AWS_ONE_WAY_MS[i][j] as f64).collect())
            .collect(),
    )
}
