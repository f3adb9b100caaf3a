using System.CommandLine;
using Probe.Cli.Commands;
using Probe.Data;
using Probe.Models;
using Probe.Reporting;

namespace Probe.Cli.Demo;

/// <summary>
/// <c>probe demo</c>: the README's main job. Trains the digits MLP with checkpoints (and a second run with a learning
/// rate high enough to kill units), then writes the same report as <c>probe report</c> over both runs.
/// </summary>
internal static class DemoCommand
{
    public static Command Create(CliContext ctx)
    {
        var outDir = CliOptions.Out(required: false, "Report folder to write (default: probe-demo); replaced when complete.");
        var seed = CliOptions.Seed();
        var quick = new Option<bool>("--quick") { Description = "Fewer epochs and samples: a fast smoke run." };
        var force = new Option<bool>("--force") { Description = "Replace --out even when it is not an earlier report folder." };
        var cmd = new Command("demo", "Train the digits MLP with checkpoints and write a full report folder.") { outDir, seed, quick, force };
        var fig = new FigureOptions(); fig.AddTo(cmd);
        CliOptions.ReplaceableReport(cmd, outDir, force);
        cmd.SetAction(p =>
        {
            string dir = p.GetValue(outDir) ?? "probe-demo";
            ReportFolder.CheckReplaceable(dir, p.GetValue(force));
            Run(new DemoSettings(p.GetValue(seed), p.GetValue(quick)), dir, ctx, fig.Settings(p), p.GetValue(force));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>Runs the whole demo into <paramref name="dir"/>; returns the path of index.html.</summary>
    public static string Run(DemoSettings settings, string dir, CliContext ctx, FigureSettings? figures = null, bool force = false)
    {
        var data = DataSource.Parse(DemoSettings.DataSpec).Load();
        var spec = ModelSpec.Parse(DemoSettings.Model);
        // The runs are trained into a staging folder that becomes part of the report folder only when all is written.
        string staging = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(dir).TrimEnd('/')) ?? ".", "." + Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/')) + ".runs-" + Environment.ProcessId);
        using var pending = ProbeCli.Pending(staging);
        using var pendingReport = ProbeCli.Pending(ReportFolder.StagingDirectory(dir));
        try
        {
            ctx.Progress.Line($"probe: training {spec} on {data.Name} ({data.Count} samples) for {settings.Epochs} epochs ...");
            var main = Train(settings.MainTrainer, spec, data, Path.Combine(staging, "main"), ctx, "training main");
            ctx.Progress.Line($"probe: training the same model at learning rate {settings.HighLearningRateTrainer.LearningRate} (high enough to kill units) ...");
            var high = Train(settings.HighLearningRateTrainer, spec, data, Path.Combine(staging, "high-lr"), ctx, "training high-lr");
            var rs = ReportCommand.Settings(ctx, settings.Seed, null, 256, settings.Quick) with { Figures = figures ?? FigureSettings.Default, ReplaceAnyFolder = force };
            string index = Report.ForRuns([new ReportRun("main", main), new ReportRun("high-lr", high)], data, DemoSettings.DataSpec, rs, dir,
                "Probe demo: what the digits MLP learned");
            Directory.Move(staging, Path.Combine(Path.GetDirectoryName(index)!, "runs"));
            ctx.Out.WriteLine($"Report written to {Path.GetFullPath(index)}");
            return index;
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, true);
        }
    }

    private static RunFolder Train(Trainer trainer, ModelSpec spec, Dataset data, string dir, CliContext ctx, string stage) =>
        (trainer with
        {
            Cancellation = ctx.Cancel,
            OnCheckpoint = c => ctx.Progress.Report(stage, c.Epoch, trainer.Epochs),
        }).Train(spec, data, DemoSettings.DataSpec, dir);
}
