#!/usr/bin/perl
# sa-rules.pl: print as JSON every rule SpamAssassin 4.0 loaded, as SA holds
# it after parsing (Mail/SpamAssassin/Conf/Parser.pm finish_parsing).
#
# Output: {"sa_version", "score_set", "rules_dir", "site_dir", "counts",
#          "rules": [ {name, kind, eval, ...}, ... ] sorted by name,
#          "dropped": [names SA parsed but did not keep, e.g. bad eval type]}
# Fields of a rule (absent when empty):
#   kind      header body rawbody full uri meta mimeheader askdns empty (SA's type,
#             Conf.pm %TYPE_AS_STRING; mimeheader/uri_detail are body evals
#             in SA, named here by the plugin that defines them; askdns and
#             empty, a `reuse` stub, have no test SA runs locally)
#   eval      {fn, args, plugin} for eval: rules (plugin "" = no plugin
#             provides fn: SA skips the rule with a warning)
#   rbl       1 for header eval rules SA runs only with DNS (rbl_evals)
#   tflags, describe, priority (the band SA runs it in, after
#   Parser.pm fix_priorities), scores [set0..set3], score (the set SA uses:
#   0 with -L and no Bayes), active (1 if SA -L can hit it: non-zero score,
#   and for evals not net/learn and a known function)
#   source    the rule text as written (header: "From =~ /x/i", meta: expr)
#   re        the compiled regexp as SA runs it, "(?flags)pattern" (Util.pm
#             qr_to_string; after ReplaceTags; SA compiles every rule with /aa)
#   header, op, if_unset   header and mimeheader rules (op =~ !~ exists)
#   uri_detail {target: [op, re]}   meta deps   capture   rule2xs
#   file, if  the file and ifplugin/if stack the rule was defined under
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use SAHarness;
use JSON::PP;
use Mail::SpamAssassin::Util qw(qr_to_string);

my $usage = "usage: perl sa-rules.pl [options] > rules.json\n$SAHarness::OPTIONS_HELP";
my $o = eval { SAHarness::parse_options(\@ARGV) } or die $@ . $usage;

# Conf::Parser deletes {tests} (the rule text) and {priority} at the end of
# finish_parsing; this plugin copies them just before (finish_parsing_end).
package SAHarness::Snapshot {
  our @ISA = ('Mail::SpamAssassin::Plugin');
  sub finish_parsing_end {
    my ($self, $p) = @_;
    $self->{tests}    = { %{$p->{conf}{tests} || {}} };
    $self->{priority} = { %{$p->{conf}{priority} || {}} };
  }
}
package main;

my $snap = bless {}, 'SAHarness::Snapshot';
my $sa = eval {
  SAHarness::new_sa($o,
    keep_config_parsing_metadata => 1,   # {source_file}, {if_stack}
    before_init => sub { $_[0]{plugins}->register_plugin($snap) });
} or die "sa-rules.pl: $@";
my $conf = $sa->{conf};

# Where SA keeps each loaded rule: per-type hashes, keyed by priority band
# except rbl_evals and meta_tests (Parser.pm finish_parsing).
my %where;    # name => [hash name, priority or undef, value]
for my $h (qw(head_tests head_evals body_tests body_evals uri_tests
              rawbody_tests rawbody_evals full_tests full_evals)) {
  for my $pri (keys %{$conf->{$h} || {}}) {
    $where{$_} = [$h, $pri, $conf->{$h}{$pri}{$_}] for keys %{$conf->{$h}{$pri}};
  }
}
$where{$_} = ['rbl_evals', undef, $conf->{rbl_evals}{$_}] for keys %{$conf->{rbl_evals} || {}};
$where{$_} = ['meta_tests', undef, undef] for keys %{$conf->{meta_tests} || {}};

my (@rules, @dropped, %counts);
for my $name (sort keys %{$conf->{test_types}}) {
  my $type = $conf->{test_types}{$name};
  my $kind = $Mail::SpamAssassin::Conf::TYPE_AS_STRING{$type} // "type$type";
  my $w = $where{$name};
  if (!$w && $kind ne 'empty') { push @dropped, $name; next; }
  my ($hash, $pri, $val) = $w ? @$w : ('', undef, undef);
  my $tflags = $conf->{tflags}{$name} // '';
  my %r = (name => $name, kind => $kind);

  if ($hash =~ /_evals$/) {
    my ($fn, $args) = @$val;
    my $plugin = $conf->{eval_plugins}{$fn};
    $r{eval} = { fn => $fn, args => [@$args], plugin => $plugin ? ref($plugin) : '' };
    $r{rbl} = 1 if $hash eq 'rbl_evals';
    if (my $m = $conf->{mimeheader_tests}{$name}) {
      $r{kind} = 'mimeheader';
      delete $r{eval};
      $r{header} = $m->{hdr};
      $r{op} = $m->{negated} ? '!~' : '=~';
      $r{if_unset} = $m->{if_unset} if $m->{if_unset} ne '';
      $r{re} = qr_to_string($m->{pattern});
      $r{source} = '';   # SA keeps no text for these; see header/op/re
    }
    if (my $d = $conf->{uri_detail}{$name}) {
      $r{uri_detail} = { map { $_ => [$d->{$_}[0], qr_to_string($d->{$_}[1])] } keys %$d };
    }
  }
  if ($kind eq 'header' && exists $conf->{test_opt_header}{$name}) {
    $r{header} = $conf->{test_opt_header}{$name};
    $r{op} = $conf->{test_opt_exists}{$name} ? 'exists'
           : $conf->{test_opt_neg}{$name} ? '!~' : '=~';
    $r{if_unset} = $conf->{test_opt_unset}{$name} if exists $conf->{test_opt_unset}{$name};
  }
  $r{re} = qr_to_string($conf->{test_qrs}{$name}) if $conf->{test_qrs}{$name};
  $r{source} //= $snap->{tests}{$name};
  delete $r{source} if !defined $r{source} || $r{source} eq '';
  $r{kind} = 'askdns' if $conf->{askdns}{$name};  # else empty: a reuse stub
  $r{deps} = $conf->{meta_dependencies}{$name} if $kind eq 'meta' && $conf->{meta_dependencies}{$name};
  $r{capture} = 1 if $conf->{capture_rules}{$name} || $conf->{capture_template_rules}{$name};
  $r{rule2xs} = 1 if $conf->{skip_body_rules}{$name};

  $r{tflags} = $tflags if $tflags ne '';
  my $d = $conf->{descriptions}{$name};
  $r{describe} = $d if defined $d && $d ne '';
  $r{priority} = 0 + ($pri // $snap->{priority}{$name} // 0);
  $r{scores} = [ map { 0 + ($conf->{scoreset}[$_]{$name} // 0) } 0 .. 3 ];
  $r{score} = 0 + ($conf->{scores}{$name} // 0);
  my $eval_off = $r{eval} && ($tflags =~ /\b(?:net|learn)\b/ || $r{rbl} || !$r{eval}{plugin});
  $r{active} = ($r{score} && !$eval_off && $kind ne 'empty') ? 1 : 0;
  $r{file} = $conf->{source_file}{$name} if $conf->{source_file}{$name};
  $r{if} = $conf->{if_stack}{$name} if $conf->{if_stack}{$name};

  $counts{ $r{kind} . ($r{eval} ? '_eval' : '') }++;
  $counts{active}++ if $r{active};
  push @rules, \%r;
}
$counts{total} = @rules;

my $out = {
  sa_version => Mail::SpamAssassin::Version(),
  score_set  => $conf->get_score_set(),
  rules_dir  => $sa->{rules_filename} // $sa->first_existing_path(@Mail::SpamAssassin::default_rules_path),
  site_dir   => $o->{site},
  counts     => \%counts,
  rules      => \@rules,
  dropped    => \@dropped,
};
# ascii: SA holds rule text as bytes; a byte 0x80-0xff is written \u0080-\u00ff
print JSON::PP->new->ascii->canonical->pretty->encode($out);
$sa->finish();
