// tests/unit/event_injection_test.cpp - building injected events, re-injection from IDT-vectoring
// information, and the double-fault rules of SDM Vol. 3A table 6-5.
#include "vmx/event_injection.hpp"
#include <gtest/gtest.h>
#include <ostream>
#include <set>
#include <string>

namespace hv {
namespace {

namespace v = exception_vector;

TEST(EventInjection, ExactlyTheSdmVectorsTakeAnErrorCode) {
  std::set<unsigned> with_code;
  for (unsigned vector = 0; vector < 256; ++vector) {
    if (exception_has_error_code(static_cast<u8>(vector))) with_code.insert(vector);
  }
  EXPECT_EQ(with_code, (std::set<unsigned>{8, 10, 11, 12, 13, 14, 17, 21}));
}

TEST(EventInjection, HardwareExceptionsEncodeVectorTypeAndErrorCode) {
  const Vmx_event gp = hardware_exception(v::GP, 0);
  EXPECT_EQ(gp.info.raw, 0x80000B0Du);  // valid | error code | type 3 | vector 13
  EXPECT_EQ(gp.error_code, 0u);
  const Vmx_event pf = hardware_exception(v::PF, 0x6);  // user write to a not-present page
  EXPECT_EQ(pf.info.raw, 0x80000B0Eu);
  EXPECT_EQ(pf.error_code, 0x6u);
  const Vmx_event ud = hardware_exception(v::UD);
  EXPECT_EQ(ud.info.raw, 0x80000306u);
  EXPECT_FALSE(ud.info.error_code_valid());
  EXPECT_EQ(hardware_exception(v::AC, 0).info.raw, 0x80000B11u);
  EXPECT_EQ(hardware_exception(v::CP, 3).info.raw, 0x80000B15u);
  EXPECT_EQ(hardware_exception(v::DE).info.raw, 0x80000300u);
}

TEST(EventInjection, OtherEventKinds) {
  EXPECT_EQ(nmi_event().info.raw, 0x80000202u);
  EXPECT_EQ(external_interrupt(0x20).info.raw, 0x80000020u);
  const Vmx_event int80 = software_interrupt(0x80, 2);
  EXPECT_EQ(int80.info.raw, 0x80000480u);
  EXPECT_EQ(int80.instruction_length, 2u);
  const Vmx_event int3 = software_exception(v::BP, 1);
  EXPECT_EQ(int3.info.raw, 0x80000603u);
  EXPECT_EQ(int3.instruction_length, 1u);
  const Vmx_event icebp = privileged_software_exception(1);
  EXPECT_EQ(icebp.info.raw, 0x80000501u);
  EXPECT_EQ(icebp.info.type(), Interruption_type::privileged_software_exception);
}

TEST(EventInjectionDeathTest, MisusedBuildersArePanics) {
  EXPECT_DEATH((void)hardware_exception(v::GP), "assertion failed");
  EXPECT_DEATH((void)hardware_exception(v::UD, 0), "assertion failed");
  EXPECT_DEATH((void)hardware_exception(v::NMI), "assertion failed");
  EXPECT_DEATH((void)hardware_exception(32), "assertion failed");
  EXPECT_DEATH((void)software_interrupt(0x80, 0), "assertion failed");
  EXPECT_DEATH((void)software_interrupt(0x80, 16), "assertion failed");
  EXPECT_DEATH((void)software_exception(v::GP, 2), "assertion failed");
}

TEST(EventInjection, EveryBuiltEventPassesTheEntryChecks) {
  for (u8 vector = 0; vector < 32; ++vector) {
    if (vector == v::NMI || vector == 9 || vector == 15 || vector > 21) continue;
    const Vmx_event e = exception_has_error_code(vector) ? hardware_exception(vector, 0) : hardware_exception(vector);
    EXPECT_EQ(entry_event_problem(e, true), nullptr) << exception_vector_name(vector);
  }
  EXPECT_EQ(entry_event_problem(nmi_event(), true), nullptr);
  EXPECT_EQ(entry_event_problem(external_interrupt(0x30), false), nullptr);
  EXPECT_EQ(entry_event_problem(software_interrupt(0x21, 2), false), nullptr);
  EXPECT_EQ(entry_event_problem(Vmx_event{}, true), nullptr) << "nothing to inject";
}

TEST(EventInjection, EntryChecksCatchWhatVmEntryWouldRefuse) {
  // #GP to a real-mode (unrestricted) guest: no error code may be delivered.
  EXPECT_STREQ(entry_event_problem(hardware_exception(v::GP, 0), false),
               "no error code may be delivered to a guest in real mode");
  Vmx_event gp_without_code = hardware_exception(v::GP, 0);
  gp_without_code.info.raw &= ~Interruption_info::ERROR_CODE_VALID;
  EXPECT_STREQ(entry_event_problem(gp_without_code, true), "this exception needs its error code delivered");
  EXPECT_STREQ(entry_event_problem(hardware_exception(v::GP, 0x10000), true), "bits 31:16 of the error code must be 0");
  EXPECT_STREQ(entry_event_problem({Interruption_info{0x80000203}}, true), "an NMI must have vector 2");
  EXPECT_STREQ(entry_event_problem({Interruption_info{0x80000100}}, true), "interruption type 1 is reserved");
  EXPECT_STREQ(entry_event_problem({Interruption_info{0x80000320}}, true), "a hardware exception needs a vector below 32");
  EXPECT_STREQ(entry_event_problem({Interruption_info{0x80001306}}, true),
               "reserved bits 30:12 of the interruption information are set");
  EXPECT_STREQ(entry_event_problem({Interruption_info{0x80000480}, 0, 0}, true),
               "a software interrupt or exception needs an instruction length of 1..15");
  EXPECT_NE(entry_event_problem({Interruption_info{0x80000700}}, true), nullptr);
}

TEST(EventReinjection, NothingWasBeingDelivered) {
  EXPECT_FALSE(interrupted_event(0x00000B0E, 0x2, 3));  // valid bit clear: stale contents
}

TEST(EventReinjection, PageFaultKeepsItsErrorCodeAndLosesUndefinedBit12) {
  const auto e = interrupted_event(0x80001B0E, 0x2, 7);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->info.raw, 0x80000B0Eu);
  EXPECT_EQ(e->error_code, 0x2u);
  EXPECT_EQ(e->instruction_length, 0u) << "a hardware exception has no instruction length";
  EXPECT_EQ(entry_event_problem(*e, true), nullptr);
}

TEST(EventReinjection, SoftwareInterruptKeepsItsInstructionLength) {
  const auto e = interrupted_event(0x80000480, 0xdead, 2);  // INT 0x80 interrupted by an EPT violation
  ASSERT_TRUE(e);
  EXPECT_EQ(*e, software_interrupt(0x80, 2));
}

TEST(EventReinjection, ExternalInterruptAndNmiComeBackAsTheyWere) {
  EXPECT_EQ(interrupted_event(0x80000041, 0x1234, 5), external_interrupt(0x41));
  EXPECT_EQ(interrupted_event(0x80000202, 0, 0), nmi_event());
}

TEST(ExceptionClasses, FollowTable6_4) {
  std::set<unsigned> contributory, page_fault, double_fault;
  for (unsigned vector = 0; vector < 256; ++vector) {
    switch (exception_class(static_cast<u8>(vector))) {
    case Exception_class::contributory: contributory.insert(vector); break;
    case Exception_class::page_fault: page_fault.insert(vector); break;
    case Exception_class::double_fault: double_fault.insert(vector); break;
    case Exception_class::benign: break;
    }
  }
  EXPECT_EQ(contributory, (std::set<unsigned>{0, 10, 11, 12, 13, 21}));
  EXPECT_EQ(page_fault, (std::set<unsigned>{14, 20}));
  EXPECT_EQ(double_fault, (std::set<unsigned>{8}));
  // Interrupts are benign whatever their vector.
  EXPECT_EQ(event_class(external_interrupt(v::GP)), Exception_class::benign);
  EXPECT_EQ(event_class(software_interrupt(v::PF, 2)), Exception_class::benign);
}

Vmx_event exception(u8 vector) {
  return exception_has_error_code(vector) ? hardware_exception(vector, 0) : hardware_exception(vector);
}

std::string describe(const Event_plan& p) {
  switch (p.action) {
  case Event_plan::Action::none: return "none";
  case Event_plan::Action::triple_fault: return "triple fault";
  case Event_plan::Action::inject: return exception_vector_name(p.event.info.vector());
  }
  return "?";
}

// Table 6-5, one row per first-exception class and one column per second: the event delivered.
struct Double_fault_case {
  u8 first;
  u8 second;
  const char* delivered;
};

void PrintTo(const Double_fault_case& c, std::ostream* os) {
  *os << exception_vector_name(c.first) << " then " << exception_vector_name(c.second) << " -> " << c.delivered;
}

class DoubleFaultTable : public ::testing::TestWithParam<Double_fault_case> {};

TEST_P(DoubleFaultTable, DeliversWhatTheSdmSays) {
  const Double_fault_case c = GetParam();
  const Event_plan p = plan_event_delivery(exception(c.first), exception(c.second));
  EXPECT_EQ(describe(p), c.delivered) << exception_vector_name(c.first) << " then " << exception_vector_name(c.second);
  EXPECT_FALSE(p.deferred);
  if (p.action == Event_plan::Action::inject && p.event.info.vector() == v::DF) {
    EXPECT_EQ(p.event, hardware_exception(v::DF, 0));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table6_5, DoubleFaultTable,
    ::testing::Values(
        // benign first: handled serially, whatever comes second
        Double_fault_case{v::DB, v::UD, "#UD"}, Double_fault_case{v::NM, v::GP, "#GP"},
        Double_fault_case{v::AC, v::PF, "#PF"},
        // contributory first
        Double_fault_case{v::GP, v::UD, "#UD"}, Double_fault_case{v::NP, v::GP, "#DF"},
        Double_fault_case{v::DE, v::TS, "#DF"}, Double_fault_case{v::GP, v::CP, "#DF"},
        Double_fault_case{v::SS, v::PF, "#PF"},
        // page fault first (#VE belongs to the page-fault class)
        Double_fault_case{v::PF, v::MC, "#MC"}, Double_fault_case{v::PF, v::GP, "#DF"},
        Double_fault_case{v::PF, v::PF, "#DF"}, Double_fault_case{v::VE, v::SS, "#DF"},
        Double_fault_case{v::PF, v::VE, "#DF"},
        // double fault first: another contributory or page fault shuts the guest down
        Double_fault_case{v::DF, v::GP, "triple fault"}, Double_fault_case{v::DF, v::PF, "triple fault"},
        Double_fault_case{v::DF, v::DF, "triple fault"}, Double_fault_case{v::DF, v::DB, "#DB"}));

TEST(EventPlan, NothingAtAll) { EXPECT_EQ(plan_event_delivery(std::nullopt, std::nullopt).action, Event_plan::Action::none); }

TEST(EventPlan, AnInterruptedEventAloneIsReinjectedWhole) {
  const Vmx_event int80 = software_interrupt(0x80, 2);
  const Event_plan p = plan_event_delivery(int80, std::nullopt);
  EXPECT_EQ(p.action, Event_plan::Action::inject);
  EXPECT_EQ(p.event, int80);
  EXPECT_FALSE(p.deferred);
}

TEST(EventPlan, ARaisedExceptionAloneIsInjected) {
  const Event_plan p = plan_event_delivery(std::nullopt, hardware_exception(v::GP, 0));
  EXPECT_EQ(p.action, Event_plan::Action::inject);
  EXPECT_EQ(p.event, hardware_exception(v::GP, 0));
}

TEST(EventPlan, InterruptedExternalInterruptOrNmiIsDeferredBehindTheException) {
  Event_plan p = plan_event_delivery(external_interrupt(0x30), hardware_exception(v::PF, 0x2));
  EXPECT_EQ(p.event, hardware_exception(v::PF, 0x2));
  ASSERT_TRUE(p.deferred);
  EXPECT_EQ(*p.deferred, external_interrupt(0x30));
  p = plan_event_delivery(nmi_event(), hardware_exception(v::GP, 0));
  EXPECT_EQ(p.event, hardware_exception(v::GP, 0));
  ASSERT_TRUE(p.deferred);
  EXPECT_EQ(*p.deferred, nmi_event());
}

TEST(EventPlan, InterruptedSoftwareEventIsDroppedBecauseTheInstructionRunsAgain) {
  for (const Vmx_event& first : {software_interrupt(0x80, 2), software_exception(v::BP, 1),
                                 privileged_software_exception(1)}) {
    const Event_plan p = plan_event_delivery(first, hardware_exception(v::GP, 0x402));
    EXPECT_EQ(p.event, hardware_exception(v::GP, 0x402)) << "no #DF: INT n counts as benign";
    EXPECT_FALSE(p.deferred);
  }
}

TEST(EventPlanDeathTest, OnlyHardwareExceptionsMayBeRaised) {
  EXPECT_DEATH((void)plan_event_delivery(hardware_exception(v::GP, 0), external_interrupt(0x20)), "assertion failed");
}

TEST(EventNames, VectorsAndTypes) {
  EXPECT_STREQ(exception_vector_name(v::GP), "#GP");
  EXPECT_STREQ(exception_vector_name(v::CP), "#CP");
  EXPECT_STREQ(exception_vector_name(15), "reserved");
  EXPECT_STREQ(exception_vector_name(31), "reserved");
  EXPECT_STREQ(exception_vector_name(0x80), "interrupt");
  EXPECT_STREQ(interruption_type_name(Interruption_type::software_exception), "software exception");
  EXPECT_STREQ(interruption_type_name(static_cast<Interruption_type>(1)), "reserved");
}

} // namespace
} // namespace hv
