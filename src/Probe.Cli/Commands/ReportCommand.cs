using System.CommandLine;
using Probe.Data;
using Probe.Models;
using Probe.Reporting;

namespace Probe.Cli.Commands;

/// <summary>
/// <c>probe report</c>: the whole report (summary, training curves, dead units, representation quality, layer
/// similarity, layer evolution, provenance) of a training run, or of one trained model (sections that need
/// checkpoints are left out and say why). Writes index.html, report.json, timings.json and figures/ into --out.
/// </summary>
internal static class ReportCommand
{
    public static Command Create(CliContext ctx)
    {
        var run = CliOptions.Run();
        var models = new ModelOptions();
        var data = CliOptions.OptionalData("Data source (with --run, defaults to the run's data): " + CliOptions.DataKinds + ".");
        var seed = CliOptions.Seed();
        var outDir = CliOptions.Out(required: true, "The report folder to write (index.html, report.json, timings.json, figures/); replaced when complete.");
        var maxSamples = CliOptions.MaxSamples();
        var batch = CliOptions.BatchSize();
        var force = new Option<bool>("--force") { Description = "Replace --out even when it is not an earlier report folder." };
        var cmd = new Command("report", "Write the full report of a training run (--run RUN) or of one trained model (--model SPEC|FILE --weights W --data DATA).")
            { run, data, seed, outDir, maxSamples, batch, force };
        models.AddTo(cmd, actsDir: false);
        var fig = new FigureOptions(); fig.AddTo(cmd);
        cmd.Validators.Add(r =>
        {
            bool hasRun = r.GetResult(run) != null, hasModel = models.HasModel(r);
            if (hasRun == hasModel) r.AddError("Give exactly one of --run RUN (a training run) or --model SPEC|FILE (one trained model).");
            if (hasRun && (r.GetResult(models.Weights) != null || r.GetResult(models.RandomWeights) != null))
                r.AddError("--weights and --random-weights cannot be used with --run (the run's checkpoints are used).");
            if (hasModel && r.GetResult(data) == null) r.AddError("--model needs --data DATA.");
            models.Validate(r);
        });
        CliOptions.ReplaceableReport(cmd, outDir, force);
        cmd.SetAction(p =>
        {
            string dir = p.GetValue(outDir)!;
            // The folder was checked by the validator; Report.ForRuns/ForModel check it again before any work.
            // The library writes the report into its staging folder: registered so that a Ctrl-C that stops the process
            // before the library has cleaned up (its forced exit after a second) removes it too.
            using var pending = ProbeCli.Pending(ReportFolder.StagingDirectory(dir));
            var settings = Settings(ctx, p.GetValue(seed), p.GetValue(maxSamples), p.GetValue(batch)) with { Figures = fig.Settings(p), Device = models.DeviceOf(p), ReplaceAnyFolder = p.GetValue(force), TokenMask = models.TokenMaskOf(p) };
            string index;
            if (p.GetValue(run) is string runDir)
            {
                var folder = RunFolder.Load(runDir);
                string spec = p.GetValue(data) ?? folder.Info.Data;
                var dataset = CliOptions.OpenData(spec);
                using var _d = dataset as IDisposable;
                index = Report.ForRuns([new ReportRun(Path.GetFileName(Path.GetFullPath(runDir).TrimEnd('/')), folder)], dataset, spec, settings, dir);
            }
            else
            {
                var (source, dataset) = models.OpenWithData(p, p.GetValue(data), p.GetValue(seed));
                using var _s = source;
                using var _d = dataset as IDisposable;
                index = Report.ForModel(source, p.GetValue(models.Model)!, p.GetValue(models.RandomWeights) ? null : p.GetValue(models.Weights), dataset, p.GetValue(data)!, settings, dir);
            }
            ctx.Out.WriteLine($"Report written to {index}");
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>Report settings wired to the CLI: Ctrl-C, progress bars/lines, stage lines, and the command line.</summary>
    public static ReportSettings Settings(CliContext ctx, int seed, int? maxSamples, int batchSize, bool quick = false) => new(
        Seed: seed, MaxSamples: maxSamples, BatchSize: batchSize,
        QualitySamples: quick ? 600 : 1000, CkaSamples: quick ? 600 : 1000, EvolutionSamples: quick ? 300 : 500, TsneIterations: quick ? 400 : 750)
    {
        Cancellation = ctx.Cancel,
        Progress = (stage, done, total) => ctx.Progress.Report(stage, done, total),
        Log = line => ctx.Progress.Line("probe: " + line),
        CommandLine = "probe " + string.Join(" ", Environment.GetCommandLineArgs().Skip(1).Select(Quote)),
    };

    private static string Quote(string a) => a.Length > 0 && a.All(c => char.IsLetterOrDigit(c) || "-_./:=,+@%".Contains(c)) ? a : "'" + a.Replace("'", "'\\''") + "'";
}
