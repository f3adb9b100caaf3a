using System.CommandLine;
using Probe.Models;

namespace Probe.Cli.Commands;

/// <summary><c>probe train</c>: trains a model with a checkpoint per epoch into a run folder.</summary>
internal static class TrainCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CliOptions.Model(required: true);
        var data = CliOptions.Data(required: true);
        var epochs = new Option<int>("--epochs") { Description = "Training epochs.", Required = true };
        var lr = new Option<double>("--lr") { Description = "Learning rate.", DefaultValueFactory = _ => 1e-3 };
        var batch = CliOptions.BatchSize(32);
        var seed = CliOptions.Seed();
        var optimizer = new Option<string>("--optimizer") { Description = "adam or sgd.", DefaultValueFactory = _ => "adam" };
        optimizer.AcceptOnlyFromAmong("adam", "sgd");
        var testFraction = new Option<double>("--test-fraction") { Description = "Fraction of samples held out for testing.", DefaultValueFactory = _ => 0.2 };
        var outDir = CliOptions.Out(required: true, "The run folder to write (run.json and checkpoints/).");
        var cmd = new Command("train", "Train a model, writing a checkpoint per epoch (and epoch 0) and run.json.")
            { model, data, epochs, lr, batch, seed, optimizer, testFraction, outDir };
        cmd.SetAction(p =>
        {
            var spec = ModelSpec.Parse(p.GetValue(model)!);
            string dataSpec = p.GetValue(data)!;
            var dataset = CliOptions.LoadData(dataSpec);
            var trainer = new Trainer(p.GetValue(optimizer)!, p.GetValue(epochs), p.GetValue(batch), p.GetValue(lr), p.GetValue(seed), p.GetValue(testFraction));
            var run = trainer.Train(spec, dataset, dataSpec, p.GetValue(outDir)!);
            foreach (var c in run.Checkpoints)
                ctx.Out.WriteLine($"epoch {c.Epoch,3}  train loss {CliOptions.F(c.TrainLoss, "F4")}  train acc {CliOptions.F(c.TrainAccuracy, "F4")}  test acc {(c.TestAccuracy is double t ? CliOptions.F(t, "F4") : "-")}");
            ctx.Out.WriteLine($"Wrote {Path.Combine(run.Directory, RunFolder.RunFile)} and {run.Checkpoints.Count} checkpoints.");
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
