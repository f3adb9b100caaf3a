using Probe.Data;
using Probe.Models;
using Probe.Reporting;

namespace Probe.Cli.Demo;

/// <summary>
/// What every section of the demo report receives: the embedded digits data, the main training run (checkpoints per
/// epoch), a second run trained with a learning rate high enough to kill units, and the report being written.
/// </summary>
public sealed record DemoContext(
    Dataset Data,
    string DataSpec,
    RunFolder Run,
    RunFolder HighLearningRateRun,
    ReportFolder Report,
    string OutputDirectory,
    int Seed,
    bool Quick,
    TextWriter Log);
