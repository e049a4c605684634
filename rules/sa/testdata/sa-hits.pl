#!/usr/bin/perl
# sa-hits.pl: run SpamAssassin 4.0 (the setup of SAHarness.pm: local tests
# only, score set 0, no Bayes/AWL/TxRep, no network, private temporary home)
# on message files whose paths come on stdin, one per line, all in this one
# process, and print one JSON line per message:
#   {"file": basename, "hits": [every rule hit, incl. __subrules, sorted],
#    "counts": {rule: n} for rules hit more than once (tflags multiple, or a
#              meta's value), "score": total}
# With --pseudo the line also carries what SA derived from the header, which
# rules read as pseudo-headers: "relays_trusted", "relays_untrusted",
# "relays_internal", "relays_external" (X-Spam-Relays-*), "envelope_from"
# (EnvelopeFrom), "author_domain" (X-AuthorDomain).
# With --timing it carries "ms", the wall time of parse+check+finish, and
# "cpu_ms", this process's user+system CPU time for it (10 ms ticks).
# A file that cannot be read gets {"file", "error"}; the exit status is then 1.
#
# The message is read as /usr/bin/spamassassin does (ArchiveIterator.pm
# _run_file: raw bytes, split into lines) and checked with the API calls of
# its wanted(): parse, check, finish. Strings are bytes; JSON escapes bytes
# 0x80-0xff as \u0080-\u00ff.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use SAHarness;
use JSON::PP;
use File::Basename qw(basename);
use Time::HiRes qw(time);

my ($pseudo, $timing);
my $usage = "usage: perl sa-hits.pl [options] < paths > hits.jsonl\n" .
  "$SAHarness::OPTIONS_HELP  --pseudo         add SA's relay and envelope pseudo-headers\n" .
  "  --timing         add ms per message\n";
my $o = eval { SAHarness::parse_options(\@ARGV, 'pseudo' => \$pseudo, 'timing' => \$timing) }
  or die $@ . $usage;
my $sa = eval { SAHarness::new_sa($o) } or die "sa-hits.pl: $@";
my $json = JSON::PP->new->ascii->canonical;
$| = 1;

sub cpu { my @t = times; return $t[0] + $t[1]; }

my $failed = 0;
while (my $path = <STDIN>) {
  chomp $path;
  next if $path eq '';
  my %out = (file => basename($path));
  my ($t0, $c0) = (time, cpu());
  my $raw;
  if (open(my $fh, '<:raw', $path)) {
    local $/;
    $raw = <$fh>;
    close $fh;
  }
  if (!defined $raw) {
    $out{error} = "cannot read $path: $!";
    warn "sa-hits.pl: $out{error}\n";
    $failed = 1;
    print $json->encode(\%out), "\n";
    next;
  }
  my @lines = split(/^/m, $raw, -1);
  $sa->timer_reset;
  my $msg = $sa->parse(\@lines);
  my $pms = $sa->check($msg);

  # test_names_hit: rules with a score; subtest_names_hit: __ rules (one
  # entry per hit). tests_already_hit holds each rule's count or meta value.
  my %hit = map { $_ => 1 } @{$pms->{test_names_hit}}, @{$pms->{subtest_names_hit}};
  $out{hits} = [sort keys %hit];
  my $n = $pms->{tests_already_hit};
  my %counts = map { $_ => 0 + $n->{$_} } grep { ($n->{$_} || 0) > 1 } keys %hit;
  $out{counts} = \%counts if %counts;
  $out{score} = 0 + $pms->get_score();
  if ($pseudo) {
    $out{"relays_$_"} = $pms->{"relays_${_}_str"} // '' for qw(trusted untrusted internal external);
    $out{envelope_from} = $pms->get_envelope_from();
    $out{author_domain} = $msg->get_metadata('X-AuthorDomain');
  }
  $pms->finish();
  $msg->finish();
  if ($timing) {
    $out{ms} = 0 + sprintf('%.1f', (time - $t0) * 1000);
    $out{cpu_ms} = 0 + sprintf('%.0f', (cpu() - $c0) * 1000);
  }
  print $json->encode(\%out), "\n";
}
$sa->finish();
exit $failed;
