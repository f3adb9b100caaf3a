using System.Diagnostics;
using Probe.Tests.Docs;
using Xunit;

namespace Probe.Tests.Foundation;

/// <summary>
/// <c>dotnet pack ... -o DIR</c> (the README's tool install: <c>dotnet pack src/Probe.Cli -o nupkg</c>) hands the folder
/// to every packed project as PackageOutputPath without a trailing slash. The build's after-pack step
/// (Directory.Build.targets) must still write <c>DIR/&lt;id&gt;.version</c> and drop the older <c>DIR/&lt;id&gt;.0.*.nupkg</c>,
/// not write <c>DIR&lt;id&gt;.version</c> beside the folder (it once left <c>nupkgProbe.version</c> in the repository root).
/// Packs the already built src/Probe (<c>--no-build</c>), a few seconds.
/// </summary>
public class PackOutputFolderTests
{
#if DEBUG
    const string Configuration = "Debug";
#else
    const string Configuration = "Release";
#endif

    [Fact]
    public async Task PackIntoAFolderNamedWithoutATrailingSlashWritesTheVersionFileInsideIt()
    {
        string repo = NotebookRunner.RepoRoot();
        var root = Directory.CreateTempSubdirectory("probe-pack-output-");
        try
        {
            string output = Path.Combine(root.FullName, "out"); // as `-o nupkg` gives it: no trailing slash
            Directory.CreateDirectory(output);
            string stale = Path.Combine(output, "Probe.0.1.0-dev.000000000000.nupkg");
            File.WriteAllText(stale, "an older build's package");

            var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = repo, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "pack", Path.Combine("src", "Probe", "Probe.csproj"), "--no-build", "-c", Configuration, "-o", output, "-p:NuGetAudit=false" })
                psi.ArgumentList.Add(a);
            psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            psi.Environment["DOTNET_NOLOGO"] = "1";
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            string stdout = await p.StandardOutput.ReadToEndAsync();
            await p.WaitForExitAsync();
            Assert.True(p.ExitCode == 0, "dotnet pack failed:\n" + stdout + await stderr);

            Assert.False(File.Exists(output + "Probe.version"), $"the version file was written beside the folder, as {output}Probe.version");
            string versionFile = Path.Combine(output, "Probe.version");
            Assert.True(File.Exists(versionFile), "no Probe.version in the pack's output folder");
            string version = File.ReadAllText(versionFile).Trim();
            Assert.Matches(@"^0\.1\.0-dev\.[0-9a-f]{12}$", version);
            Assert.True(File.Exists(Path.Combine(output, $"Probe.{version}.nupkg")), $"no Probe.{version}.nupkg in the output folder");
            Assert.False(File.Exists(stale), "the older package in the output folder was not dropped");
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }
}
